//! `vibrant chat` on the real SmolLM2 model: two turns through one KV cache give, token for
//! token, what `vibrant run` gives on the whole rendered conversation, while the second turn
//! feeds only its new tokens.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const TURNS: [&str; 2] = ["What is the capital of France?", "And of Germany?"];
/// Options of both chat and run. `-b 1`: batched matmuls round differently from one-token ones
/// (each batch size follows llama.cpp's order for it) and this small model's greedy margins are
/// thin, so both feed one token per step; then every position computes the same numbers however
/// the conversation is split into feeds, and any difference in the replies is the cache's.
/// One thread: this 135M model gains little from more, and on a busy machine they only wait.
const OPTS: [&str; 10] = ["--temp", "0", "-n", "16", "-c", "512", "-b", "1", "-t", "1"];

/// The model's path, fetched with the project's script if missing (the test fails if it cannot be had).
fn real_model(file: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::var_os("VIBRANT_MODELS").map(PathBuf::from).unwrap_or_else(|| root.join("models"));
    let path = dir.join(file);
    if !path.exists() {
        let status = Command::new(root.join("scripts/fetch-models.sh")).arg(file).status().expect("running scripts/fetch-models.sh");
        assert!(status.success() && path.exists(), "model {file} is missing and could not be fetched; run scripts/fetch-models.sh");
    }
    path
}

fn vibrant(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vibrant"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "vibrant {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// The token counts of every "prompt eval: N tokens" line on stderr.
fn prompt_eval_counts(o: &Output) -> Vec<usize> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("prompt eval: ")?.split(' ').next()?.parse().ok())
        .collect()
}

/// The conversation rendered by `vibrant template` with the generation prompt.
fn render(model: &str, messages: &[(&str, &str)]) -> String {
    let msgs: Vec<_> = messages.iter().map(|(role, content)| serde_json::json!({"role": role, "content": content})).collect();
    let o = vibrant(&["template", "-m", model, "-"], &serde_json::to_string(&msgs).unwrap());
    String::from_utf8(o.stdout).unwrap()
}

/// What `vibrant run` generates after `prompt` (greedy, 16 tokens), and its prompt token count.
fn run_reply(model: &str, prompt: &str, dir: &Path) -> (String, usize) {
    let file = dir.join("prompt.txt");
    std::fs::write(&file, prompt).unwrap();
    let o = vibrant(&[&["run", "-m", model, "-f", file.to_str().unwrap()][..], &OPTS].concat(), "");
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    // run echoes the prompt, streams the reply and ends with a newline.
    let reply = out.strip_prefix(prompt).and_then(|r| r.strip_suffix('\n')).expect("run's output is prompt + reply + newline");
    (reply.to_string(), prompt_eval_counts(&o)[0])
}

#[test]
fn two_turns_reuse_the_cache_exactly() {
    let model = real_model(SMOLLM2);
    let model = model.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("vibrant-chat-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let input = format!("{}\n\n{}\n", TURNS[0], TURNS[1]);
    let chat = vibrant(&[&["chat", "-m", model][..], &OPTS].concat(), &input);
    let counts = prompt_eval_counts(&chat);
    assert_eq!(counts.len(), 2, "one speed line per turn: {}", String::from_utf8_lossy(&chat.stderr));

    // The same turns as single prompts of the whole rendered conversation, with no cache.
    let (reply1, n_full1) = run_reply(model, &render(model, &[("user", TURNS[0])]), &dir);
    let conversation = [("user", TURNS[0]), ("assistant", reply1.as_str()), ("user", TURNS[1])];
    let (reply2, n_full2) = run_reply(model, &render(model, &conversation), &dir);
    std::fs::remove_dir_all(&dir).ok();

    assert_eq!(String::from_utf8(chat.stdout).unwrap(), format!("{reply1}\n{reply2}\n"));
    // Turn 1 feeds its whole prompt; turn 2 only what follows turn 1's prompt and reply.
    assert_eq!(counts[0], n_full1);
    assert!(counts[1] <= n_full2 - n_full1 && counts[1] < n_full2 / 2, "turn 2 fed {} of {n_full2} tokens", counts[1]);
}

#[test]
fn a_full_context_ends_the_chat_cleanly() {
    let model = real_model(SMOLLM2);
    let model = model.to_str().unwrap();
    let input = format!("{}\n{}\n", TURNS[0], TURNS[1]);
    // The first prompt is 37 tokens: a context of 40 leaves room for a 4-token reply, then ends.
    let o = vibrant(&["chat", "-m", model, "--temp", "0", "-c", "40", "-t", "1"], &input);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(prompt_eval_counts(&o), [37], "{err}");
    assert!(err.contains("the context of 40 tokens is full") && !err.contains("panicked"), "{err}");
    // A context smaller than the first prompt: no reply, the same clean end.
    let o = vibrant(&["chat", "-m", model, "--temp", "0", "-c", "30", "-t", "1"], &input);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.stdout.is_empty() && err.contains("no longer fits the context of 30"), "{err}");
}
