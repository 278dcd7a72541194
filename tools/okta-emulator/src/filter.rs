//! Okta's `filter`/`search` expressions (SCIM filtering, developer.okta.com/docs/api/#filter):
//! `<attribute> <op> <value>` terms joined by `and`/`or`, negated with `not`, grouped with
//! parentheses, where an attribute is a dotted path such as `status`, `profile.department` or
//! `target.id` (a path through an array matches if any element does). Values are quoted strings,
//! numbers, `true`, `false` or `null`.

use serde_json::Value;

use crate::errors::ApiError;

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn from_word(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return None,
        })
    }
}

/// Which operators an endpoint accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Users, groups and apps: `eq`, `sw` and the orderings (`lastUpdated gt "..."`).
    Resources,
    /// The System Log: every operator, `pr` and `not` too.
    Scim,
}

impl Dialect {
    fn allows(self, op: Op) -> bool {
        self == Dialect::Scim || !matches!(op, Op::Ne | Op::Co | Op::Ew)
    }
}

#[derive(Debug, PartialEq)]
pub(crate) enum Expr {
    Cmp(Vec<String>, Op, Value),
    Present(Vec<String>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// Why an expression was refused.
#[derive(Debug, PartialEq)]
pub(crate) enum FilterError {
    /// An operator outside the dialect, and where it starts (0-based).
    Operator {
        op: String,
        position: usize,
    },
    Syntax,
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
}

impl Expr {
    /// Parses a users, groups or apps expression; anything else is Okta's "Invalid search
    /// criteria".
    pub(crate) fn parse(text: &str) -> Result<Self, ApiError> {
        Self::parse_in(text, Dialect::Resources).map_err(|_| ApiError::invalid_search())
    }

    pub(crate) fn parse_in(text: &str, dialect: Dialect) -> Result<Self, FilterError> {
        let tokens = tokenize(text).ok_or(FilterError::Syntax)?;
        let mut parser = Parser {
            tokens,
            pos: 0,
            dialect,
        };
        let expr = parser.or()?;
        if parser.pos == parser.tokens.len() {
            Ok(expr)
        } else {
            Err(FilterError::Syntax)
        }
    }

    /// Okta's `q`: a case-insensitive prefix match on any of `attributes`.
    pub(crate) fn prefix_of_any(attributes: &[&str], prefix: &str) -> Self {
        let term = |attribute: &&str| {
            let path = attribute.split('.').map(str::to_owned).collect();
            Expr::Cmp(path, Op::Sw, Value::String(prefix.to_owned()))
        };
        let mut terms = attributes.iter().map(term);
        let first = terms.next().unwrap_or(Expr::Present(Vec::new()));
        terms.fold(first, |acc, t| Expr::Or(Box::new(acc), Box::new(t)))
    }

    /// Every attribute path the expression mentions (the System Log refuses `published`).
    pub(crate) fn paths(&self) -> Vec<String> {
        match self {
            Expr::Cmp(path, ..) | Expr::Present(path) => vec![path.join(".")],
            Expr::Not(e) => e.paths(),
            Expr::And(a, b) | Expr::Or(a, b) => {
                let mut paths = a.paths();
                paths.extend(b.paths());
                paths
            }
        }
    }

    pub(crate) fn matches(&self, item: &Value) -> bool {
        match self {
            Expr::Cmp(path, Op::Ne, value) => !leaves(item, path)
                .into_iter()
                .any(|v| compare(v, Op::Eq, value)),
            Expr::Cmp(path, op, value) => leaves(item, path)
                .into_iter()
                .any(|v| compare(v, *op, value)),
            Expr::Present(path) => leaves(item, path).into_iter().any(|v| !v.is_null()),
            Expr::Not(e) => !e.matches(item),
            Expr::And(a, b) => a.matches(item) && b.matches(item),
            Expr::Or(a, b) => a.matches(item) || b.matches(item),
        }
    }
}

/// The values at a dotted path, walking into every element of the arrays on the way.
fn leaves<'v>(item: &'v Value, path: &[String]) -> Vec<&'v Value> {
    let mut current = vec![item];
    for key in path {
        let mut next = Vec::new();
        for value in current {
            match value {
                Value::Array(items) => next.extend(items.iter().filter_map(|i| i.get(key))),
                other => next.extend(other.get(key)),
            }
        }
        current = next;
    }
    current
        .into_iter()
        .flat_map(|v| match v {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        })
        .collect()
}

/// Numbers and booleans compare by their JSON text; strings `sw`/`ew`/`co` ignore case; the
/// orderings compare numerically when both sides are numbers.
fn compare(actual: &Value, op: Op, wanted: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    };
    if wanted.is_null() {
        return match op {
            Op::Eq => actual.is_null(),
            _ => false,
        };
    }
    let (Some(a), Some(w)) = (text(actual), text(wanted)) else {
        return false;
    };
    let (la, lw) = (a.to_lowercase(), w.to_lowercase());
    match op {
        Op::Eq => a == w,
        Op::Ne => a != w,
        Op::Co => la.contains(&lw),
        Op::Sw => la.starts_with(&lw),
        Op::Ew => la.ends_with(&lw),
        Op::Gt | Op::Ge | Op::Lt | Op::Le => {
            let ordering = match (a.parse::<f64>(), w.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.partial_cmp(&y),
                _ => Some(a.cmp(&w)),
            };
            ordering.is_some_and(|o| match op {
                Op::Gt => o.is_gt(),
                Op::Ge => o.is_ge(),
                Op::Lt => o.is_lt(),
                _ => o.is_le(),
            })
        }
    }
}

fn tokenize(text: &str) -> Option<Vec<(usize, Token)>> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                tokens.push((at, if c == '(' { Token::Open } else { Token::Close }));
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next()?.1 {
                        '"' => break,
                        '\\' => text.push(chars.next()?.1),
                        c => text.push(c),
                    }
                }
                tokens.push((at, Token::Text(text)));
            }
            c if is_word(c) => {
                let mut word = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if !is_word(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push((at, Token::Word(word)));
            }
            _ => return None,
        }
    }
    Some(tokens)
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '$' | ':' | '+')
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    dialect: Dialect,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword));
        if found {
            self.pos += 1;
        }
        found
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut expr = self.and()?;
        while self.keyword("or") {
            expr = Expr::Or(Box::new(expr), Box::new(self.and()?));
        }
        Ok(expr)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut expr = self.term()?;
        while self.keyword("and") {
            expr = Expr::And(Box::new(expr), Box::new(self.term()?));
        }
        Ok(expr)
    }

    fn term(&mut self) -> Result<Expr, FilterError> {
        if self.dialect == Dialect::Scim && self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.group()?)));
        }
        match self.peek().ok_or(FilterError::Syntax)? {
            Token::Open => self.group(),
            Token::Word(attribute) => {
                let path: Vec<String> = attribute.split('.').map(str::to_owned).collect();
                self.pos += 1;
                let (at, op) = match self.tokens.get(self.pos) {
                    Some((at, Token::Word(op))) => (*at, op.clone()),
                    _ => return Err(FilterError::Syntax),
                };
                self.pos += 1;
                if self.dialect == Dialect::Scim && op.eq_ignore_ascii_case("pr") {
                    return Ok(Expr::Present(path));
                }
                let unknown = || FilterError::Operator {
                    op: op.clone(),
                    position: at,
                };
                let op = Op::from_word(&op).ok_or_else(unknown)?;
                if !self.dialect.allows(op) {
                    return Err(unknown());
                }
                let value = match self.peek().ok_or(FilterError::Syntax)? {
                    Token::Text(text) => Value::String(text.clone()),
                    Token::Word(word) => literal(word).ok_or(FilterError::Syntax)?,
                    _ => return Err(FilterError::Syntax),
                };
                self.pos += 1;
                Ok(Expr::Cmp(path, op, value))
            }
            _ => Err(FilterError::Syntax),
        }
    }

    fn group(&mut self) -> Result<Expr, FilterError> {
        if self.peek() != Some(&Token::Open) {
            return Err(FilterError::Syntax);
        }
        self.pos += 1;
        let expr = self.or()?;
        if self.peek() != Some(&Token::Close) {
            return Err(FilterError::Syntax);
        }
        self.pos += 1;
        Ok(expr)
    }
}

/// An unquoted value: `true`, `false`, `null` or a number.
fn literal(word: &str) -> Option<Value> {
    match word {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "null" => Some(Value::Null),
        _ => serde_json::from_str::<serde_json::Number>(word)
            .ok()
            .map(Value::Number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_status_and_profile_terms() {
        let user = json!({ "status": "STAGED", "profile": { "department": "Sales", "firstName": "Alice" }, "lastUpdated": "2024-05-01T00:00:00.000Z" });
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
            (r#"lastUpdated gt "2024-01-01T00:00:00.000Z""#, true),
            (r#"lastUpdated lt "2024-01-01T00:00:00.000Z""#, false),
        ] {
            assert_eq!(
                Expr::parse(expr).unwrap().matches(&user),
                expected,
                "{expr}"
            );
        }
    }

    #[test]
    fn scim_filters_reach_into_arrays_and_negate() {
        let event = json!({
            "eventType": "user.lifecycle.deactivate",
            "actor": { "id": "00uA" },
            "target": [{ "id": "00uB", "type": "User" }, { "id": "0oaC", "type": "AppInstance" }],
            "outcome": { "result": "SUCCESS" },
            "securityContext": { "asNumber": 394089, "domain": null },
        });
        for (expr, expected) in [
            (r#"target.id eq "0oaC""#, true),
            (r#"target.id eq "00uB" and target.id eq "0oaC""#, true),
            (r#"target.id eq "nope""#, false),
            (r#"actor.id ne "00uA""#, false),
            (r#"eventType sw "user.lifecycle""#, true),
            (r#"eventType ew "DEACTIVATE""#, true),
            (r#"eventType co "cycle""#, true),
            ("securityContext.asNumber gt 1000", true),
            ("securityContext.domain pr", false),
            ("actor.id pr", true),
            (r#"not (outcome.result eq "FAILURE")"#, true),
        ] {
            let parsed = Expr::parse_in(expr, Dialect::Scim).unwrap();
            assert_eq!(parsed.matches(&event), expected, "{expr}");
        }
    }

    #[test]
    fn reports_unknown_operators_where_they_are() {
        assert_eq!(
            Expr::parse_in(r#"display_message eqq "Create okta user""#, Dialect::Scim),
            Err(FilterError::Operator {
                op: "eqq".to_owned(),
                position: 16
            })
        );
        // `co` is SCIM only.
        assert!(matches!(
            Expr::parse_in(r#"status co "A""#, Dialect::Resources),
            Err(FilterError::Operator { .. })
        ));
    }

    #[test]
    fn rejects_what_it_cannot_evaluate() {
        for expr in [
            "",
            "status",
            r#"status eq "x"#,
            r#"(status eq "x""#,
            "status eq x",
            r#"a eq "b" c"#,
            "status = 1",
            r#"status co "x""#,
        ] {
            assert_eq!(Expr::parse(expr).unwrap_err().status, 400, "{expr}");
        }
    }
}
