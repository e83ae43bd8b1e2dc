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
