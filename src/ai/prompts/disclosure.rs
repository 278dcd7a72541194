//! What the settings page shows before a team turns guidance on: the system text and, for each
//! prompt type, its task and every key and object field it can send, from the same
//! declarations the prompts are built from (as `docs/ai.md`'s generated tables are).

use serde_json::{json, Value};

use super::views::identity_fields;
use super::{PromptKind, SYSTEM};
use crate::ai::fields::{Field, Treatment};

/// Each field with what it is sent as; a list of objects lists its own fields under `fields`.
fn fields(fields: &[Field]) -> Value {
    fields
        .iter()
        .map(|f| {
            let mut out =
                json!({"key": f.key, "okta_field": f.path, "sent_as": f.treatment.describe()});
            if let Treatment::Each(inner) = f.treatment {
                out["fields"] = self::fields(inner);
            }
            out
        })
        .collect()
}

/// The whole disclosure, as JSON.
pub fn disclosure() -> Value {
    let prompts: Vec<Value> = PromptKind::ALL
        .into_iter()
        .map(|kind| {
            let spec = kind.spec();
            let objects: Vec<Value> = spec
                .views
                .iter()
                .map(|view| {
                    let mut o = json!({
                        "resource": view.resource.as_str(),
                        "pseudonym": format!("{}-N", view.kind.prefix()),
                        "fields": fields(view.fields),
                    });
                    if spec.identity_changes {
                        o["changed_identity_fields"] = fields(identity_fields(view.resource));
                    }
                    o
                })
                .collect();
            json!({
                "prompt": kind.as_str(),
                "task": spec.task,
                "max_output_tokens": spec.max_output_tokens,
                "keys": spec.keys.iter().map(|(k, what)| json!({"key": k, "holds": what})).collect::<Vec<_>>(),
                "objects": objects,
            })
        })
        .collect();
    json!({"system": SYSTEM, "prompts": prompts})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_prompt_and_every_declared_key() {
        let d = disclosure();
        assert_eq!(d["system"], SYSTEM);
        let prompts = d["prompts"].as_array().unwrap();
        assert_eq!(prompts.len(), PromptKind::ALL.len());
        for (p, kind) in prompts.iter().zip(PromptKind::ALL) {
            assert_eq!(p["prompt"], kind.as_str());
            let mut listed: Vec<String> = p["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["key"].as_str().unwrap().to_owned())
                .collect();
            fn keys(fields: &Value, out: &mut Vec<String>) {
                for f in fields.as_array().into_iter().flatten() {
                    out.push(f["key"].as_str().unwrap().to_owned());
                    keys(&f["fields"], out);
                }
            }
            for o in p["objects"].as_array().unwrap() {
                keys(&o["fields"], &mut listed);
                keys(&o["changed_identity_fields"], &mut listed);
            }
            listed.sort();
            listed.dedup();
            assert_eq!(listed, kind.spec().all_keys(), "{}", kind.as_str());
        }
    }
}
