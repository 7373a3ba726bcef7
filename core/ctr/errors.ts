// Why a train job cannot start: an input the stage needs is absent or incomplete. Never worth a
// retry. (The trainer's own failures come from the trainer-job runner, coded by the trainer's kind.)
import { R4ecError } from '../errors';

export class TrainInputError extends R4ecError {
  constructor(code: 'DataError' | 'MissingStageInput', message: string) {
    super(message, code);
    this.name = 'TrainInputError';
  }
}
