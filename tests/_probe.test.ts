import { test } from 'bun:test'
import { describeEachDatabase } from './support/app'

describeEachDatabase('probe', (h) => {
  test('probe', async () => {
    const s = await h().call('GET', '/swagger')
    console.log(s.status, JSON.stringify(Object.fromEntries(s.headers)), s.text)
    const j = await h().call('GET', '/swagger/json')
    console.log(j.status, JSON.stringify(Object.fromEntries(j.headers)), Object.keys(j.body.paths), JSON.stringify(j.body.paths['/api/v1/auth/sessions/{id}/revoke']).slice(0, 1500))
    const a = await h().request('/swagger/assets/scalar.js')
    console.log(a.status, JSON.stringify(Object.fromEntries(a.headers)), (await a.text()).length)
    const m = await h().request('/metrics')
    console.log(m.status, JSON.stringify(Object.fromEntries(m.headers)), (await m.text()).slice(0, 800))
  })
})
