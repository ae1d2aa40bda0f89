import { test, expect } from 'bun:test'
test('probe', () => expect(1).toBe(1))
