import { expect, test } from 'bun:test'
import { describeEachDatabase } from './support/app'

describeEachDatabase('health', (h) => {
  test('GET /health answers ok with the version', async () => {
    const res = await h().call('GET', '/health')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ status: 'ok', version: expect.any(String) })
  })
})
