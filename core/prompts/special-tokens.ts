// Chat-template special tokens: strings a model's chat template or tokenizer reads as structure
// (the start or end of a turn or of the text, a role header, a tool call) rather than as words. A
// title holding `<|im_end|>` would end the user's turn early in a real template, so text built from
// data (titles, histories, earlier answers) and every SFT record carries them neutralised; and an
// answer ends where the model's turn ends.
//
// The families covered: ChatML (Qwen, SmolLM, …) `<|im_start|>`; Llama 3 `<|eot_id|>`; Phi
// `<|user|>`/`<|end|>`; GPT `<|endoftext|>`; Command-R and other `<|…|>` tokens; DeepSeek's
// full-width `<｜…｜>`; Llama 2 / Mistral `<s>` `</s>` `[INST]` `<<SYS>>` and Mistral's other
// `[UPPER_CASE]` control tokens; Gemma `<start_of_turn>` `<end_of_turn>` `<bos>` `<eos>`; the
// sentencepiece/BERT names (`<unk>`, `<pad>`, `<mask>`, `<sep>`, `<cls>`, `<extra_id_N>`); reasoning
// and tool blocks (`<think>`, `<tool_call>`, `<tool_response>`).

/** `<|…|>` and `<｜…｜>`: every token of this shape is special in the vocabularies that use it. */
const PIPE = String.raw`<\s*[|｜][^<>|｜\n]{1,64}[|｜]\s*>`;
const ANGLE_NAMES = [
  's',
  'unk',
  'pad',
  'mask',
  'bos',
  'eos',
  'sep',
  'cls',
  'start_of_turn',
  'end_of_turn',
  'start_of_image',
  'end_of_image',
  'think',
  'tool_call',
  'tool_response',
  'tools',
  String.raw`extra_id_\d+`,
];
const ANGLE = String.raw`<\s*/?\s*(?:${ANGLE_NAMES.join('|')})\s*>`;
const SYS = String.raw`<<\s*/?\s*SYS\s*>>`;
const BRACKET_NAMES = [
  'INST',
  'SYSTEM_PROMPT',
  'AVAILABLE_TOOLS',
  'TOOL_CALLS',
  'TOOL_RESULTS',
  'TOOL_CONTENT',
  'IMG',
  'IMG_BREAK',
  'IMG_END',
  'PREFIX',
  'MIDDLE',
  'SUFFIX',
  'THINK',
  'ARGS',
  'CALL_ID',
  String.raw`CONTROL_\d+`,
];
const BRACKET = String.raw`\[\s*/?\s*(?:${BRACKET_NAMES.join('|')})\s*\]`;

const SOURCE = `${PIPE}|${SYS}|${ANGLE}|${BRACKET}`;

/** A fresh global regex matching any special token (fresh: callers may use lastIndex). */
export function specialTokenPattern(): RegExp {
  return new RegExp(SOURCE, 'gi');
}

/** True when `text` holds a special token. */
export function hasSpecialToken(text: string): boolean {
  return new RegExp(SOURCE, 'i').test(text);
}

/**
 * Rewrites every special token so no tokenizer or template matches it, keeping it readable:
 * `<|im_end|>` → `‹|im_end|›`, `[INST]` → `［INST］` (the way our own tags in data are shown).
 */
export function neutralizeSpecialTokens(text: string): string {
  return text.replace(specialTokenPattern(), (m) => m.replace(/</g, '‹').replace(/>/g, '›').replace(/\[/g, '［').replace(/\]/g, '］'));
}

/**
 * The same for text inside a JSON string literal, losslessly: the brackets of a token become JSON
 * escapes (`[INST]` → `\u005bINST\u005d`), so JSON.parse gives the title back exactly.
 */
export function escapeSpecialTokensInJson(json: string): string {
  return json.replace(specialTokenPattern(), (m) => m.replace(/\[/g, '\\u005b').replace(/\]/g, '\\u005d').replace(/</g, '\\u003c').replace(/>/g, '\\u003e'));
}

const THINK_BLOCK = /<\s*think\s*>[\s\S]*?(?:<\s*\/\s*think\s*>|$)|\[\s*THINK\s*\][\s\S]*?(?:\[\s*\/\s*THINK\s*\]|$)/gi;
const ROLE_WORD = /^[^\S\n]*(?:assistant|model|bot|chatbot|gpt)[^\S\n]*(?:\n|(?=<)|$)/i;

/**
 * The assistant's own answer inside what a server returned: reasoning blocks (`<think>…</think>`,
 * `[THINK]…[/THINK]`) removed, a leading turn frame (`<|im_start|>assistant`, `<s>`,
 * `<start_of_turn>model`, …) dropped, and everything from the next special token on cut off, since
 * a real server ends the turn there and what follows (a hallucinated next turn) is not this answer.
 */
export function answerTurn(text: string): string {
  let t = text.replace(THINK_BLOCK, '');
  for (;;) {
    const lead = new RegExp(`^\\s*(?:${SOURCE})`, 'i').exec(t);
    if (!lead) break;
    t = t.slice(lead[0].length);
    const role = ROLE_WORD.exec(t);
    if (role) t = t.slice(role[0].length);
  }
  const next = new RegExp(SOURCE, 'i').exec(t);
  return next ? t.slice(0, next.index) : t;
}
