//! Chat templates with Hugging Face semantics.

mod common;

use tokenizer::{ChatTemplate, Message, TemplateSource};

fn tmpl(src: &str) -> ChatTemplate {
    ChatTemplate::new(src.to_string(), TemplateSource::Model, "<s>".into(), "</s>".into()).unwrap()
}

fn msgs() -> Vec<Message> {
    vec![Message::new("system", "  Be brief.  "), Message::new("user", "Hi"), Message::new("assistant", "Hello!")]
}

#[test]
fn hf_features() {
    // trim_blocks / lstrip_blocks as Hugging Face sets them.
    let t = tmpl("{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}");
    assert_eq!(t.render(&msgs(), false).unwrap(), "[Hi]\n");
    let t = tmpl("{{ bos_token }}{{ messages[0].content.strip() }}{{ eos_token }}{% if add_generation_prompt %}>{% endif %}");
    assert_eq!(t.render(&msgs(), true).unwrap(), "<s>Be brief.</s>>");
    let t = tmpl("{{ messages[1] | tojson }}|{{ {'b': [1, 2.5, none, true], 'a': 'é\"\\n'} | tojson }}");
    assert_eq!(t.render(&msgs(), false).unwrap(), r#"{"role": "user", "content": "Hi"}|{"b": [1, 2.5, null, true], "a": "é\"\n"}"#);
    let t = tmpl("{{ {'x': [1]} | tojson(indent=2) }}");
    assert_eq!(t.render(&msgs(), false).unwrap(), "{\n  \"x\": [\n    1\n  ]\n}");
    let t = tmpl("{% if messages | length > 2 %}{{ raise_exception('too many messages') }}{% endif %}");
    let e = t.render(&msgs(), false).unwrap_err().to_string();
    assert!(e.contains("too many messages"), "{e}");
    let t = tmpl("{{ strftime_now('%Y') }}");
    let y = t.render(&[], false).unwrap();
    assert!(y.len() == 4 && y.starts_with("20"), "{y}");
    let t = tmpl("{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{{ m.role }}{% endfor %}");
    assert_eq!(t.render(&msgs(), false).unwrap(), "system");
    let t = tmpl("{% for m in messages %}{% generation %}{{ m.role[0] }}{% endgeneration %}{% endfor %}");
    assert_eq!(t.render(&msgs(), false).unwrap(), "sua");
}

#[test]
fn builtin_gemma_template() {
    let f = gguf::GgufFile::open(common::model_path("gemma-3-270m-q4_k_m.gguf")).unwrap();
    let t = ChatTemplate::from_gguf(&f, None).unwrap();
    assert_eq!(t.source(), &TemplateSource::Builtin("gemma"));
    assert_eq!(
        t.render(&msgs(), true).unwrap(),
        "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>model\n"
    );
}

#[test]
fn override_file() {
    let f = gguf::GgufFile::open(common::model_path("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    let path = std::env::temp_dir().join(format!("vibrant-tmpl-{}.jinja", std::process::id()));
    std::fs::write(&path, "{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}\n").unwrap();
    let t = ChatTemplate::from_gguf(&f, Some(&path)).unwrap();
    assert_eq!(t.render(&[Message::new("user", "x")], true).unwrap(), "user:x;");
    std::fs::remove_file(&path).ok();
    let missing = ChatTemplate::from_gguf(&f, Some(&path)).err().unwrap().to_string();
    assert!(missing.contains("vibrant-tmpl"), "{missing}");
}

#[test]
fn shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<tokenizer::Tokenizer>();
    assert_send_sync::<ChatTemplate>();
}

/// Real chat templates (from llama.cpp's models/templates) rendered by Python's jinja2 set up as
/// Hugging Face does (scripts/check-templates.py): tests/data/templates/NAME.CONV.txt is the
/// rendering of NAME.jinja for conversation.CONV.json, with bos "<s>", eos "</s>" and
/// add_generation_prompt.
#[test]
fn real_templates_render_like_jinja2() {
    let dir = common::data_dir().join("templates");
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for expected in names.iter().filter(|p| p.extension().is_some_and(|e| e == "txt")) {
        let file = expected.file_name().unwrap().to_str().unwrap();
        let (name, conv) = file.trim_end_matches(".txt").rsplit_once('.').unwrap();
        let source = std::fs::read_to_string(dir.join(format!("{name}.jinja"))).unwrap();
        let messages = std::fs::read_to_string(dir.join(format!("conversation.{conv}.json"))).unwrap();
        let want = std::fs::read_to_string(expected).unwrap();
        let t = ChatTemplate::new(source, TemplateSource::Model, "<s>".into(), "</s>".into()).unwrap();
        match t.render_json(&messages, true) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!("{file}:\n--- want\n{want}\n--- got\n{got}")),
            Err(e) => failures.push(format!("{file}: {e}")),
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} renderings found in {}", dir.display());
    assert!(failures.is_empty(), "{} of {checked} differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn messages_json_errors_are_clear() {
    let t = tmpl("{{ messages | length }}");
    assert_eq!(t.render_json(r#"[{"role": "user", "content": "x"}]"#, true).unwrap(), "1");
    assert_eq!(t.render_json(r#"{"messages": [], "tools": [1]}"#, true).unwrap(), "0");
    for bad in ["", "[", "{\"role\": 1}", "[1]", "\"text\"", "{\"messages\": 3}"] {
        let e = t.render_json(bad, true).unwrap_err().to_string();
        assert!(e.starts_with("chat messages: "), "{bad:?}: {e}");
    }
    let t = tmpl("{{ {'a': 'é😀'} | tojson(ensure_ascii=True) }}|{{ [1, 'a', none, true, 2.0] }}");
    assert_eq!(t.render(&[], false).unwrap(), r#"{"a": "\u00e9\ud83d\ude00"}|[1, 'a', None, True, 2.0]"#);
}
