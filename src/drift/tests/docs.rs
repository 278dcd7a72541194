//! docs/drift.md's normalisation table is generated from the rule table; this test fails when
//! they differ. `BLESS=1 cargo test --lib drift::tests::docs` rewrites the section.

use std::fmt::Write;

use crate::drift::rules::{Field, Key, NaturalPart, TypeRules, COMMON, RULES};

const START: &str = "<!-- normalisation-table:start -->";
const END: &str = "<!-- normalisation-table:end -->";

fn code(s: &str) -> String {
    format!("`{}`", s.replace('|', "\\|"))
}

fn natural(parts: &[NaturalPart]) -> String {
    parts
        .iter()
        .map(|p| match p {
            NaturalPart::Text(path) => code(path),
            NaturalPart::Folded(path) => format!("{} (case-insensitive)", code(path)),
            NaturalPart::Parent { resource, key } => {
                let key: Vec<String> = key.iter().map(|k| code(k)).collect();
                format!("the {} at {}", code(resource.as_str()), key.join(" + "))
            }
            NaturalPart::Fixed(_) => "one per org".to_string(),
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

fn rows(out: &mut String, decision: &str, fields: &[Field]) {
    for f in fields {
        let _ = writeln!(out, "| {} | {decision} | {} |", code(f.path), f.why);
    }
}

fn render_type(out: &mut String, r: &TypeRules) {
    let key = match r.key {
        Key::Fields(paths) => paths
            .iter()
            .map(|p| code(p))
            .collect::<Vec<_>>()
            .join(" + "),
        Key::Singleton(name) => format!("singleton ({})", code(name)),
    };
    let _ = writeln!(out, "### `{}`\n", r.resource);
    let _ = writeln!(
        out,
        "Key: {key}. Natural key: {}.\n",
        natural(r.natural_key)
    );
    let empty = r.ignore.is_empty()
        && r.sets.is_empty()
        && r.ordered.is_empty()
        && r.kept.is_empty()
        && r.secrets.is_empty()
        && r.links.is_empty()
        && r.references.is_empty();
    if empty {
        let _ = writeln!(out, "Nothing but its key: only additions and removals.\n");
        return;
    }
    let _ = writeln!(out, "| Path | Decision | Why |\n|---|---|---|");
    rows(out, "ignored", r.ignore);
    rows(out, "set", r.sets);
    rows(out, "ordered", r.ordered);
    rows(out, "compared", r.kept);
    rows(out, "secret", r.secrets);
    for l in r.links {
        let _ = writeln!(
            out,
            "| {} | link kept as the {} id | {} |",
            code(l.path),
            code(l.resource.as_str()),
            l.why
        );
    }
    for re in r.references {
        let _ = writeln!(
            out,
            "| {} | reference to {} | rewritten through the id map across orgs |",
            code(re.path),
            code(re.resource.as_str())
        );
    }
    out.push('\n');
}

pub fn render() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{START}\n<!-- Generated from src/drift/rules.rs by the test drift::tests::docs; edit the \
         rules, then run `BLESS=1 cargo test --lib drift::tests::docs`. -->\n"
    );
    let _ = writeln!(
        out,
        "### Every type\n\n| Path | Decision | Why |\n|---|---|---|"
    );
    rows(&mut out, "ignored", COMMON.ignore);
    rows(&mut out, "set", COMMON.sets);
    rows(&mut out, "secret", COMMON.secrets);
    out.push('\n');
    for r in RULES {
        render_type(&mut out, r);
    }
    out.push_str(END);
    out
}

#[test]
fn docs_normalisation_table_matches_the_rules() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/drift.md");
    let doc = std::fs::read_to_string(path).expect("docs/drift.md exists");
    let (Some(start), Some(end)) = (doc.find(START), doc.find(END)) else {
        panic!("docs/drift.md lacks the {START} … {END} section");
    };
    let current = &doc[start..end + END.len()];
    let expected = render();
    if current != expected {
        if std::env::var_os("BLESS").is_some() {
            let updated = format!("{}{expected}{}", &doc[..start], &doc[end + END.len()..]);
            std::fs::write(path, updated).expect("docs/drift.md is writable");
        } else {
            panic!(
                "docs/drift.md's normalisation table differs from src/drift/rules.rs; run \
                 `BLESS=1 cargo test --lib drift::tests::docs` to regenerate it"
            );
        }
    }
}
