import { R4ecError } from '../errors';

/** A stored refine input or record that is not what refine expects: retrying cannot fix it. */
export class RefineDataError extends R4ecError {
  constructor(message: string) {
    super(message, 'RefineDataError');
    this.name = 'RefineDataError';
  }
}
