// The workflow bundle's entry: every workflow type the cpu worker serves.
export { smokeWorkflow } from './smoke';
