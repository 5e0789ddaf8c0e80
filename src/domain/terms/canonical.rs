//! The canonical form of a term sheet: how each value is written, and the
//! canonical JSON whose SHA-256 is the terms hash (see `docs/negotiation.md`).

use super::*;

pub(super) fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

pub(super) fn format_instant(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(super) fn format_rate(rate: Decimal) -> String {
    rate.normalize().to_string()
}

/// Writes `value` as compact JSON with object keys sorted at every level,
/// whatever order the map keeps (serde_json's `preserve_order` feature may be
/// on in the main crate's dependency graph).
pub(super) fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        // Null, booleans, strings (and numbers, which terms never contain) print compactly.
        leaf => out.push_str(&leaf.to_string()),
    }
}
