// The shape of errors the console's load functions throw (see #lib/load.ts): the API's problem
// fields a person needs to report a failure.
declare global {
  namespace App {
    interface Error {
      code?: string
      request_id?: string | null
      retry_after?: number | null
      errors?: { pointer: string; detail: string }[]
    }
  }
}

export {}
