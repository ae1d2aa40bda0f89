import { test } from 'bun:test'
import { describeEachDatabase } from '../support/app'
import { createSignedInUser } from '../support/users'

describeEachDatabase('probe', (h) => {
  test('probe', async () => {
    const u = await createSignedInUser(h(), 'user')
    const c = await h().call('POST', '/api/v1/community/posts', { token: u.token, body: { title: 'a', content: 'b' } })
    console.log(c.status, c.text)
    for (const q of ['', '?page_size=100', '?q=abc'])
      console.log(q, (await h().call('GET', `/api/v1/community/posts${q}`)).text)
    console.log((await h().call('PATCH', `/api/v1/community/posts/${c.body.id}`, { token: u.token, body: { title: 'x', content: 'y' } })).text)
  })
})
