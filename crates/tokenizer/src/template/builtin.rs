//! Built-in chat templates for files without `tokenizer.chat_template`, in the formats
//! llama.cpp's `llama_chat_apply_template` produces for them.

/// Gemma: no system role (a system message is prepended to the first user turn), "assistant"
/// is called "model", and every turn's content is trimmed.
const GEMMA: &str = r#"{%- set ns = namespace(system='') -%}
{%- for message in messages -%}
{%- if message['role'] == 'system' -%}
{%- set ns.system = ns.system + (message['content'] | trim) -%}
{%- else -%}
{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
{{- '<start_of_turn>' + role + '\n' -}}
{%- if ns.system != '' and role != 'model' -%}
{{- ns.system + '\n\n' -}}
{%- set ns.system = '' -%}
{%- endif -%}
{{- (message['content'] | trim) + '<end_of_turn>\n' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<start_of_turn>model\n' -}}
{%- endif -%}"#;

const PHI3: &str = r#"{%- for message in messages -%}
{{- '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|assistant|>\n' -}}
{%- endif -%}"#;

const CHATML: &str = r#"{%- for message in messages -%}
{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|im_start|>assistant\n' -}}
{%- endif -%}"#;

/// (name, template) for an architecture; ChatML when nothing more specific is known
/// (llama.cpp's default too).
pub(super) fn for_arch(arch: &str) -> (&'static str, &'static str) {
    match arch {
        "gemma" | "gemma2" | "gemma3" | "gemma3n" | "gemma-embedding" => ("gemma", GEMMA),
        "phi3" | "phimoe" => ("phi3", PHI3),
        _ => ("chatml", CHATML),
    }
}
