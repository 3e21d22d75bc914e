/** An error a user can act on: printed as one line by the CLIs, never as a stack trace. */
export class UserError extends Error {}
