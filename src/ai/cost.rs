//! What a call cost, from the provider's token counts and a price table.
//!
//! Prices are per million tokens in micro-dollars (integers, so sums are exact). The built-in
//! table holds the providers' published list prices for the models Butterfly defaults to and
//! their neighbours; `AI_PRICES` overrides or adds entries without a release
//! (`model=input:output` in dollars per million tokens, comma-separated). A model the table does
//! not know is recorded with no cost rather than a guessed one.

/// Dollars per million tokens, in micro-dollars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price {
    pub input: u64,
    pub output: u64,
}

const fn usd(input_cents: u64, output_cents: u64) -> Price {
    Price {
        input: input_cents * 10_000,
        output: output_cents * 10_000,
    }
}

/// List prices (USD per million input / output tokens).
const BUILT_IN: &[(&str, Price)] = &[
    ("claude-opus-4-5", usd(500, 2500)),
    ("claude-opus-4", usd(1500, 7500)),
    ("claude-sonnet-4", usd(300, 1500)),
    ("claude-haiku-4-5", usd(100, 500)),
    ("claude-3-5-haiku", usd(80, 400)),
    ("gpt-4.1", usd(200, 800)),
    ("gpt-4.1-mini", usd(40, 160)),
    ("gpt-4.1-nano", usd(10, 40)),
    ("gpt-4o", usd(250, 1000)),
    ("gpt-4o-mini", usd(15, 60)),
    ("gpt-5", usd(125, 1000)),
    ("gpt-5-mini", usd(25, 200)),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceTable {
    /// Model name prefixes (dated snapshots share their family's price); longest match wins.
    entries: Vec<(String, Price)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AI_PRICES entry {0:?} is not model=input:output")]
pub struct PriceError(pub String);

impl PriceTable {
    pub fn built_in() -> Self {
        PriceTable {
            entries: BUILT_IN.iter().map(|(m, p)| (m.to_string(), *p)).collect(),
        }
    }

    /// The built-in table with `spec`'s entries (`model=1.25:10,other=0.4:1.6`) on top.
    pub fn with_overrides(spec: &str) -> Result<Self, PriceError> {
        let mut table = Self::built_in();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || PriceError(entry.to_owned());
            let (model, prices) = entry.split_once('=').ok_or_else(bad)?;
            let (input, output) = prices.split_once(':').ok_or_else(bad)?;
            let micro = |s: &str| -> Result<u64, PriceError> {
                let dollars: f64 = s.trim().parse().map_err(|_| bad())?;
                if !(0.0..1e6).contains(&dollars) {
                    return Err(bad());
                }
                Ok((dollars * 1e6).round() as u64)
            };
            let price = Price {
                input: micro(input)?,
                output: micro(output)?,
            };
            table.entries.retain(|(m, _)| m != model.trim());
            table.entries.push((model.trim().to_owned(), price));
        }
        Ok(table)
    }

    pub fn price(&self, model: &str) -> Option<Price> {
        self.entries
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, p)| *p)
    }

    /// Cost in micro-dollars, rounded up; `None` for a model without a price.
    pub fn cost(&self, model: &str, input_tokens: u64, output_tokens: u64) -> Option<u64> {
        let p = self.price(model)?;
        let total = u128::from(input_tokens) * u128::from(p.input)
            + u128::from(output_tokens) * u128::from(p.output);
        Some(total.div_ceil(1_000_000) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_prices_dated_models() {
        let t = PriceTable::built_in();
        assert_eq!(t.price("claude-sonnet-4-5-20250929"), Some(usd(300, 1500)));
        assert_eq!(t.price("gpt-4.1-mini-2025-04-14"), Some(usd(40, 160)));
        assert_eq!(t.price("gpt-4.1-2025-04-14"), Some(usd(200, 800)));
        assert_eq!(t.price("mystery-model"), None);
        // 2,000 input at $3/M + 500 output at $15/M = $0.0135.
        assert_eq!(t.cost("claude-sonnet-4-5", 2_000, 500), Some(13_500));
        assert_eq!(t.cost("gpt-4.1-nano", 1, 0), Some(1), "rounded up");
    }

    #[test]
    fn overrides_replace_and_add() {
        let t = PriceTable::with_overrides(" gpt-4.1=1.5:6, house-model=0.1:0.2 ").unwrap();
        assert_eq!(
            t.price("gpt-4.1"),
            Some(Price {
                input: 1_500_000,
                output: 6_000_000
            })
        );
        assert_eq!(t.cost("house-model", 1_000_000, 1_000_000), Some(300_000));
        for bad in ["gpt", "gpt=1", "gpt=a:b", "gpt=-1:2"] {
            assert!(PriceTable::with_overrides(bad).is_err(), "{bad}");
        }
    }
}
