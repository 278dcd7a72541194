//! The subset of Okta's `filter`/`search` expression language a backup uses:
//! `<attribute> eq|sw "<value>"` terms joined by `and`/`or`, with parentheses, where an attribute is
//! a dotted path such as `status`, `type` or `profile.department`.

use serde_json::Value;

use crate::errors::ApiError;

#[derive(Debug, PartialEq)]
pub(crate) enum Expr {
    Eq(Vec<String>, String),
    StartsWith(Vec<String>, String),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
}

impl Expr {
    /// Parses an expression; anything outside the subset is Okta's "Invalid search criteria".
    pub(crate) fn parse(text: &str) -> Result<Self, ApiError> {
        let tokens = tokenize(text).ok_or_else(ApiError::invalid_search)?;
        let mut parser = Parser { tokens, pos: 0 };
        let expr = parser.or().ok_or_else(ApiError::invalid_search)?;
        if parser.pos == parser.tokens.len() {
            Ok(expr)
        } else {
            Err(ApiError::invalid_search())
        }
    }

    /// Okta's `q`: a case-insensitive prefix match on any of `attributes`.
    pub(crate) fn prefix_of_any(attributes: &[&str], prefix: &str) -> Self {
        let term = |attribute: &&str| {
            let path = attribute.split('.').map(str::to_owned).collect();
            Expr::StartsWith(path, prefix.to_owned())
        };
        let mut terms = attributes.iter().map(term);
        let first = terms
            .next()
            .unwrap_or_else(|| Expr::Eq(Vec::new(), String::new()));
        terms.fold(first, |acc, t| Expr::Or(Box::new(acc), Box::new(t)))
    }

    pub(crate) fn matches(&self, item: &Value) -> bool {
        match self {
            Expr::Eq(path, value) => attribute(item, path).is_some_and(|v| v == *value),
            Expr::StartsWith(path, prefix) => attribute(item, path)
                .is_some_and(|v| v.to_lowercase().starts_with(&prefix.to_lowercase())),
            Expr::And(a, b) => a.matches(item) && b.matches(item),
            Expr::Or(a, b) => a.matches(item) || b.matches(item),
        }
    }
}

/// The attribute at a dotted path, as text (numbers and booleans compare by their JSON text).
fn attribute(item: &Value, path: &[String]) -> Option<String> {
    let value = path.iter().try_fold(item, |v, key| v.get(key))?;
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

fn tokenize(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                tokens.push(if c == '(' { Token::Open } else { Token::Close });
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => text.push(chars.next()?),
                        c => text.push(c),
                    }
                }
                tokens.push(Token::Text(text));
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '.' => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if !(c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
            _ => return None,
        }
    }
    Some(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword));
        if found {
            self.pos += 1;
        }
        found
    }

    fn or(&mut self) -> Option<Expr> {
        let mut expr = self.and()?;
        while self.keyword("or") {
            expr = Expr::Or(Box::new(expr), Box::new(self.and()?));
        }
        Some(expr)
    }

    fn and(&mut self) -> Option<Expr> {
        let mut expr = self.term()?;
        while self.keyword("and") {
            expr = Expr::And(Box::new(expr), Box::new(self.term()?));
        }
        Some(expr)
    }

    fn term(&mut self) -> Option<Expr> {
        match self.tokens.get(self.pos)? {
            Token::Open => {
                self.pos += 1;
                let expr = self.or()?;
                (self.tokens.get(self.pos)? == &Token::Close).then_some(())?;
                self.pos += 1;
                Some(expr)
            }
            Token::Word(attribute) => {
                let path: Vec<String> = attribute.split('.').map(str::to_owned).collect();
                self.pos += 1;
                let op = match self.tokens.get(self.pos)? {
                    Token::Word(op) => op.to_ascii_lowercase(),
                    _ => return None,
                };
                self.pos += 1;
                let Token::Text(value) = self.tokens.get(self.pos)? else {
                    return None;
                };
                let value = value.clone();
                self.pos += 1;
                match op.as_str() {
                    "eq" => Some(Expr::Eq(path, value)),
                    "sw" => Some(Expr::StartsWith(path, value)),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_status_and_profile_terms() {
        let user = json!({ "status": "STAGED", "profile": { "department": "Sales", "firstName": "Alice" } });
        for (expr, expected) in [
            (r#"status eq "STAGED""#, true),
            (r#"status eq "ACTIVE""#, false),
            (r#"status eq "ACTIVE" or status eq "STAGED""#, true),
            (
                r#"status eq "STAGED" and profile.department eq "Sales""#,
                true,
            ),
            (
                r#"(status eq "ACTIVE" or status eq "STAGED") and profile.firstName sw "al""#,
                true,
            ),
            (r#"profile.missing eq "x""#, false),
        ] {
            assert_eq!(
                Expr::parse(expr).unwrap().matches(&user),
                expected,
                "{expr}"
            );
        }
    }

    #[test]
    fn rejects_what_it_cannot_evaluate() {
        for expr in [
            "",
            "status",
            r#"status gt "x""#,
            r#"status eq "x"#,
            r#"(status eq "x""#,
            "status eq x",
            r#"a eq "b" c"#,
            "status = 1",
        ] {
            assert_eq!(Expr::parse(expr).unwrap_err().status, 400, "{expr}");
        }
    }
}
