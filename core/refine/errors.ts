/** A stored refine input or record that is not what refine expects: retrying cannot fix it. */
export class RefineDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefineDataError';
  }
}
