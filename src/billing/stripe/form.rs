//! Stripe's request encoding: `application/x-www-form-urlencoded` with nested keys in brackets
//! (`line_items[0][price]=...`), exactly as the official libraries send it (they encode with
//! `qs` and then put `[` and `]` back unescaped, which Stripe reads the same way either way).

/// An ordered list of form parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn new() -> Form {
        Form::default()
    }

    pub fn push(mut self, key: impl Into<String>, value: impl Into<String>) -> Form {
        self.0.push((key.into(), value.into()));
        self
    }

    /// Adds the pair only when there is a value.
    pub fn push_opt(self, key: &str, value: Option<impl Into<String>>) -> Form {
        match value {
            Some(v) => self.push(key, v),
            None => self,
        }
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn encode(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.0.iter())
            .finish()
            .replace("%5B", "[")
            .replace("%5D", "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_keep_their_brackets_and_values_are_escaped() {
        let form = Form::new()
            .push("mode", "subscription")
            .push("line_items[0][price]", "price_123")
            .push("success_url", "https://app.example/billing?done=1&x=a b")
            .push("metadata[team_id]", "6f1c…")
            .push_opt("customer", None::<String>);
        assert_eq!(
            form.encode(),
            "mode=subscription&line_items[0][price]=price_123\
             &success_url=https%3A%2F%2Fapp.example%2Fbilling%3Fdone%3D1%26x%3Da+b\
             &metadata[team_id]=6f1c%E2%80%A6"
        );
        // A bracket inside a value is data, and survives the round trip either way.
        let tricky = Form::new().push("name", "a[b]=c&d").encode();
        let back: Vec<(String, String)> = url::form_urlencoded::parse(tricky.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(back, vec![("name".to_string(), "a[b]=c&d".to_string())]);
    }
}
