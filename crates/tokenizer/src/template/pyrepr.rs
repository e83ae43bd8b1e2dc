//! How Jinja2 prints a value: Python's `str()`. Lists and dicts print as their `repr` (`['a',
//! 1, True, None]`, `{'type': 'text'}`), booleans as `True`/`False`, none as `None`, floats with
//! Python's shortest digits. MiniJinja prints these the Rust/JSON way, which templates that
//! print a whole list (a message whose content is a list of parts) would show.

use minijinja::value::ValueKind;
use minijinja::{Error, Output, State, Value};
use unicode_general_category::{get_general_category, GeneralCategory as G};

use super::pyfns::py_float;

/// The environment's formatter.
pub(super) fn format(out: &mut Output, state: &mut State, v: &Value) -> Result<(), Error> {
    match v.kind() {
        ValueKind::Bool | ValueKind::None | ValueKind::Seq | ValueKind::Map | ValueKind::Number => {
            let mut s = String::new();
            repr(v, &mut s, true, 0)?;
            out.write_str(&s).map_err(Error::from)
        }
        _ => minijinja::escape_formatter(out, state, v),
    }
}

/// `str(v)` when `top`, else `repr(v)`.
fn repr(v: &Value, s: &mut String, top: bool, depth: usize) -> Result<(), Error> {
    if depth > 100 {
        s.push_str("...");
        return Ok(());
    }
    match v.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => s.push_str("None"),
        ValueKind::Bool => s.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number if v.is_integer() => s.push_str(&v.to_string()),
        ValueKind::Number => s.push_str(&py_float(f64::try_from(v.clone())?)),
        ValueKind::String if top => s.push_str(v.as_str().unwrap_or("")),
        ValueKind::String => string(v.as_str().unwrap_or(""), s),
        ValueKind::Seq | ValueKind::Iterable => {
            s.push('[');
            for (i, it) in v.try_iter()?.enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                repr(&it, s, false, depth + 1)?;
            }
            s.push(']');
        }
        ValueKind::Map => {
            s.push('{');
            for (i, k) in v.try_iter()?.enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                repr(&k, s, false, depth + 1)?;
                s.push_str(": ");
                repr(&v.get_item(&k)?, s, false, depth + 1)?;
            }
            s.push('}');
        }
        _ => s.push_str(&v.to_string()),
    }
    Ok(())
}

/// Python's `repr(str)`: single quotes unless the text has one and no double quote.
fn string(t: &str, s: &mut String) {
    let q = if t.contains('\'') && !t.contains('"') { '"' } else { '\'' };
    s.push(q);
    for c in t.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if c == q => {
                s.push('\\');
                s.push(c);
            }
            c if printable(c) => s.push(c),
            c if (c as u32) < 0x100 => s.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    s.push(q);
}

/// Python's `str.isprintable` for one character: not in categories C* or Z*, except the space.
fn printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !matches!(
        get_general_category(c),
        G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
            | G::SpaceSeparator
            | G::LineSeparator
            | G::ParagraphSeparator
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: Value) -> String {
        let mut s = String::new();
        repr(&v, &mut s, true, 0).unwrap();
        s
    }

    #[test]
    fn like_python_str() {
        assert_eq!(r(Value::from(true)), "True");
        assert_eq!(r(Value::from(())), "None");
        assert_eq!(r(Value::from(2.0)), "2.0");
        assert_eq!(r(Value::from("it's")), "it's");
        let v = Value::from(vec![Value::from("a"), Value::from("it's"), Value::from(1), Value::from(false)]);
        assert_eq!(r(v), r#"['a', "it's", 1, False]"#);
        let m = Value::from_pairs([("type", Value::from("text")), ("n", Value::from(()))]);
        assert_eq!(r(m), "{'type': 'text', 'n': None}");
        assert_eq!(r(Value::from(vec!["\n\u{200b}é\\"])), r"['\n\u200bé\\']");
    }
}
