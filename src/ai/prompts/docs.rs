//! The field tables of `docs/ai.md`, generated from the prompt specs and views, and a test that
//! the document carries exactly these tables (so the docs cannot drift from what is sent).
//! `AI_DOCS_WRITE=1 cargo test --lib ai::prompts::docs` rewrites the section after a change.

use super::views::{self, identity_fields};
use super::{PromptKind, SYSTEM};
use crate::ai::fields::{Field, View};

const BEGIN: &str = "<!-- generated:fields:begin (src/ai/prompts/docs.rs) -->";
const END: &str = "<!-- generated:fields:end -->";

fn view_table(out: &mut String, view: &View, extra: &[Field]) {
    out.push_str(&format!(
        "#### `{}` (pseudonym `{}-N`)\n\n| key | Okta field | sent as |\n|---|---|---|\n",
        view.resource.as_str(),
        view.kind.prefix()
    ));
    for f in view.fields.iter().chain(extra) {
        out.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            f.key,
            f.path,
            f.treatment.describe()
        ));
    }
    out.push('\n');
}

pub fn tables() -> String {
    let mut out = String::new();
    out.push_str("### The system text (identical in every request)\n\n```text\n");
    out.push_str(SYSTEM);
    out.push_str("\n```\n\n");
    for kind in PromptKind::ALL {
        let spec = kind.spec();
        out.push_str(&format!(
            "### `{}`\n\nTask (fixed text):\n\n> {}\n\n",
            kind.as_str(),
            spec.task
        ));
        out.push_str(&format!(
            "Answer limit: {} output tokens. Objects it may include: {}.\n\n| key | holds |\n|---|---|\n",
            spec.max_output_tokens,
            spec.views
                .iter()
                .map(|v| format!("`{}`", v.resource.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for (key, what) in spec.keys {
            out.push_str(&format!("| `{key}` | {what} |\n"));
        }
        out.push('\n');
        if spec.identity_changes {
            out.push_str(
                "Changed identifying fields are named by key and their values sent only as \
                 pseudonyms (before and after get different pseudonyms when they differ):\n\n\
                 | resource | key | Okta field | sent as |\n|---|---|---|---|\n",
            );
            for view in spec.views {
                for f in identity_fields(view.resource) {
                    out.push_str(&format!(
                        "| `{}` | `{}` | `{}` | {} |\n",
                        view.resource.as_str(),
                        f.key,
                        f.path,
                        f.treatment.describe()
                    ));
                }
            }
            out.push('\n');
        }
    }
    out.push_str("### Object views (the only fields of an object that can be sent)\n\n");
    for view in views::ALL {
        view_table(&mut out, view, &[]);
    }
    out
}

#[test]
fn docs_ai_md_lists_exactly_the_declared_fields() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ai.md");
    let doc = std::fs::read_to_string(path).expect("docs/ai.md exists");
    let (head, rest) = doc
        .split_once(BEGIN)
        .expect("docs/ai.md has the generated section");
    let (_, tail) = rest
        .split_once(END)
        .expect("docs/ai.md closes the generated section");
    let expected = format!("{head}{BEGIN}\n\n{}{END}{tail}", tables());
    if std::env::var_os("AI_DOCS_WRITE").is_some() {
        std::fs::write(path, &expected).unwrap();
    }
    assert!(
        doc == expected,
        "docs/ai.md is out of date with the prompt specs; run AI_DOCS_WRITE=1 cargo test --lib ai::prompts::docs"
    );
}
