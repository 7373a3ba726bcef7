// Every way a fine-tune job can fail, with whether another attempt can help (the local trainer's own
// failures come from the trainer-job runner: PythonJobError, core/python-job). The activities' failure
// mapper turns `retryable: false` into a non-retryable failure of type `code` and keeps the trainer's
// last log lines in the failure's details, so the Web UI shows why without opening files.
import { R4ecError } from '../errors';

export type FinetuneErrorCode =
  | 'BadDataset' // a malformed SFT line (file, line, field)
  | 'EmptyDataset' // a job with no records
  | 'MissingStageInput' // construct output absent or without a dataset file
  | 'BaseModelMissing' // no model directory / unknown provider model
  | 'BadTrainerSpec'
  | 'TrainerNotStartable' // python / the tiny model's builder missing
  | 'MissingAdapter' // a job to commit or serve has no registered adapter
  | 'ProviderJobFailed' // the provider's fine-tuning job ended failed
  | 'ProviderJobCancelled'
  | 'ProviderError'; // transport / API errors talking to the provider

export class FinetuneError extends R4ecError {
  declare readonly code: FinetuneErrorCode;
  constructor(
    code: FinetuneErrorCode,
    message: string,
    retryable: boolean,
    /** The trainer's last stderr / progress lines (or provider events), oldest first. */
    readonly lastLines: string[] = [],
  ) {
    super(lastLines.length ? `${message}\n--- last trainer output ---\n${lastLines.join('\n')}` : message, code, { retryable });
    this.name = 'FinetuneError';
  }

  override details(): Record<string, unknown> {
    return { lastLines: this.lastLines };
  }
}
