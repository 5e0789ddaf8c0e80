//! Money: exact decimals with an ISO 4217 currency, never a float.
//!
//! Amounts enter as decimal strings (`"1500000.00"`) and are checked against
//! the currency's minor units, so every amount a party types is payable as is.
//! Amounts are stored exactly (integer minor units, which always fit in an
//! `i64` for a parsed amount) and rounded only where a payment falls due:
//!
//! - **Splitting a total into installments** ([`Currency::split_evenly`]) is
//!   done in integer minor units: each installment gets `total / n` (rounded
//!   down) and the remaining minor units go one each to the first
//!   installments. The parts always add up to the total exactly, and earlier
//!   installments are at most one minor unit larger than later ones.
//! - **Any computed amount** (e.g. per-stream royalties, a revenue share) is
//!   rounded to the currency's minor units half away from zero
//!   ([`Currency::round`]), the usual commercial rule: 0.005 USD → 0.01 USD.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// How many decimals a per-stream rate may have (rates are fractions of a
/// minor unit, e.g. 0.0045 CNY per stream).
pub const RATE_MAX_DECIMALS: u32 = 10;

/// An active ISO 4217 currency with its minor units (decimals), e.g. USD 2,
/// JPY 0, BHD 3, CLF 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency {
    code: &'static str,
    minor_units: u32,
}

const fn c(code: &'static str, minor_units: u32) -> Currency {
    Currency { code, minor_units }
}

/// ISO 4217 List One as in force in 2026, sorted by code (for binary search).
///
/// Left out on purpose: codes whose minor units are "N.A." (gold `XAU`,
/// silver, platinum, palladium, bond market units `XBA`–`XBD`, `XDR`, `XSU`,
/// `XUA`, the testing code `XTS` and "no currency" `XXX`), which cannot be paid
/// in installments; and withdrawn codes (`HRK` → EUR 2023, `ZWL` → `ZWG` 2024,
/// `ANG` → `XCG` 2025, `BGN` → EUR 2026, `SLL` → `SLE`). Review this table
/// when ISO publishes an amendment.
#[rustfmt::skip]
const CURRENCIES: [Currency; 165] = [
    c("AED", 2), c("AFN", 2), c("ALL", 2), c("AMD", 2), c("AOA", 2), c("ARS", 2),
    c("AUD", 2), c("AWG", 2), c("AZN", 2), c("BAM", 2), c("BBD", 2), c("BDT", 2),
    c("BHD", 3), c("BIF", 0), c("BMD", 2), c("BND", 2), c("BOB", 2), c("BOV", 2),
    c("BRL", 2), c("BSD", 2), c("BTN", 2), c("BWP", 2), c("BYN", 2), c("BZD", 2),
    c("CAD", 2), c("CDF", 2), c("CHE", 2), c("CHF", 2), c("CHW", 2), c("CLF", 4),
    c("CLP", 0), c("CNY", 2), c("COP", 2), c("COU", 2), c("CRC", 2), c("CUC", 2),
    c("CUP", 2), c("CVE", 2), c("CZK", 2), c("DJF", 0), c("DKK", 2), c("DOP", 2),
    c("DZD", 2), c("EGP", 2), c("ERN", 2), c("ETB", 2), c("EUR", 2), c("FJD", 2),
    c("FKP", 2), c("GBP", 2), c("GEL", 2), c("GHS", 2), c("GIP", 2), c("GMD", 2),
    c("GNF", 0), c("GTQ", 2), c("GYD", 2), c("HKD", 2), c("HNL", 2), c("HTG", 2),
    c("HUF", 2), c("IDR", 2), c("ILS", 2), c("INR", 2), c("IQD", 3), c("IRR", 2),
    c("ISK", 0), c("JMD", 2), c("JOD", 3), c("JPY", 0), c("KES", 2), c("KGS", 2),
    c("KHR", 2), c("KMF", 0), c("KPW", 2), c("KRW", 0), c("KWD", 3), c("KYD", 2),
    c("KZT", 2), c("LAK", 2), c("LBP", 2), c("LKR", 2), c("LRD", 2), c("LSL", 2),
    c("LYD", 3), c("MAD", 2), c("MDL", 2), c("MGA", 2), c("MKD", 2), c("MMK", 2),
    c("MNT", 2), c("MOP", 2), c("MRU", 2), c("MUR", 2), c("MVR", 2), c("MWK", 2),
    c("MXN", 2), c("MXV", 2), c("MYR", 2), c("MZN", 2), c("NAD", 2), c("NGN", 2),
    c("NIO", 2), c("NOK", 2), c("NPR", 2), c("NZD", 2), c("OMR", 3), c("PAB", 2),
    c("PEN", 2), c("PGK", 2), c("PHP", 2), c("PKR", 2), c("PLN", 2), c("PYG", 0),
    c("QAR", 2), c("RON", 2), c("RSD", 2), c("RUB", 2), c("RWF", 0), c("SAR", 2),
    c("SBD", 2), c("SCR", 2), c("SDG", 2), c("SEK", 2), c("SGD", 2), c("SHP", 2),
    c("SLE", 2), c("SOS", 2), c("SRD", 2), c("SSP", 2), c("STN", 2), c("SVC", 2),
    c("SYP", 2), c("SZL", 2), c("THB", 2), c("TJS", 2), c("TMT", 2), c("TND", 3),
    c("TOP", 2), c("TRY", 2), c("TTD", 2), c("TWD", 2), c("TZS", 2), c("UAH", 2),
    c("UGX", 0), c("USD", 2), c("USN", 2), c("UYI", 0), c("UYU", 2), c("UYW", 4),
    c("UZS", 2), c("VED", 2), c("VES", 2), c("VND", 0), c("VUV", 0), c("WST", 2),
    c("XAF", 0), c("XCD", 2), c("XCG", 2), c("XOF", 0), c("XPF", 0), c("YER", 2),
    c("ZAR", 2), c("ZMW", 2), c("ZWG", 2),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown currency `{0}`: expected an active ISO 4217 code such as USD, EUR or CNY")]
pub struct UnknownCurrency(pub String);

/// Why an amount cannot be turned into what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{amount} has more decimals than {currency} allows ({minor_units})")]
    TooPrecise {
        amount: Decimal,
        currency: &'static str,
        minor_units: u32,
    },
    #[error("{amount} {currency} is too large")]
    OutOfRange {
        amount: Decimal,
        currency: &'static str,
    },
    #[error("cannot combine amounts in {left} and {right}")]
    CurrencyMismatch {
        left: &'static str,
        right: &'static str,
    },
    #[error("cannot split an amount into zero parts")]
    NoParts,
    #[error("cannot split a negative amount ({amount} {currency})")]
    NegativeTotal {
        amount: Decimal,
        currency: &'static str,
    },
}

impl Currency {
    /// Parses an ISO 4217 code in any case (`cny` → `CNY`).
    pub fn parse(input: &str) -> Result<Currency, UnknownCurrency> {
        let upper = input.to_ascii_uppercase();
        CURRENCIES
            .binary_search_by(|cur| cur.code.cmp(upper.as_str()))
            .map(|i| CURRENCIES[i])
            .map_err(|_| UnknownCurrency(input.to_string()))
    }

    /// The uppercase ISO 4217 code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Decimals of the currency's minor unit (2 for cents, 0 for JPY).
    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }

    /// Every supported currency, sorted by code.
    pub fn all() -> &'static [Currency] {
        &CURRENCIES
    }

    /// Parses an amount typed in this currency: a plain non-negative decimal
    /// with at most [`Currency::minor_units`] decimals (`"1500000"`,
    /// `"1500000.5"`, `"1500000.00"`), no sign, exponent, grouping or spaces.
    /// The result carries exactly `minor_units` decimals (`1500000.00`), so
    /// equal amounts print the same, and always fits in `i64` minor units.
    pub fn parse_amount(&self, input: &str) -> Result<Decimal, String> {
        let mut amount =
            parse_non_negative_decimal(input, self.minor_units).map_err(|e| match e {
                DecimalInputError::TooManyDecimals => {
                    if self.minor_units == 0 {
                        format!("must be a whole number: {} has no minor unit", self.code)
                    } else {
                        format!(
                            "must have at most {} decimal places for {}",
                            self.minor_units, self.code
                        )
                    }
                }
                other => other.to_string(),
            })?;
        if self.to_minor_units(amount).is_err() {
            return Err(DecimalInputError::TooLarge.to_string());
        }
        amount.rescale(self.minor_units);
        Ok(amount)
    }

    /// Parses a per-stream rate: a plain non-negative decimal with at most
    /// [`RATE_MAX_DECIMALS`] decimals (`"0.0045"`). Trailing zeros are dropped
    /// (`"0.00450"` → `0.0045`) so equal rates print the same.
    pub fn parse_rate(input: &str) -> Result<Decimal, String> {
        parse_non_negative_decimal(input, RATE_MAX_DECIMALS)
            .map(|rate| rate.normalize())
            .map_err(|e| e.to_string())
    }

    /// The amount as an integer count of minor units (cents), for storage.
    /// Refused when the amount has a non-zero digit beyond the minor units
    /// (round first with [`Currency::round`]) or does not fit in an `i64`.
    pub fn to_minor_units(&self, amount: Decimal) -> Result<i64, MoneyError> {
        let out_of_range = || MoneyError::OutOfRange {
            amount,
            currency: self.code,
        };
        let scaled = amount
            .checked_mul(Decimal::from(10_i64.pow(self.minor_units)))
            .ok_or_else(out_of_range)?;
        if !scaled.fract().is_zero() {
            return Err(MoneyError::TooPrecise {
                amount,
                currency: self.code,
                minor_units: self.minor_units,
            });
        }
        scaled.to_i64().ok_or_else(out_of_range)
    }

    /// The amount for an integer count of minor units, with exactly
    /// `minor_units` decimals (`1234` USD → `12.34`).
    pub fn from_minor_units(&self, minor_units: i64) -> Decimal {
        Decimal::new(minor_units, self.minor_units)
    }

    /// Rounds a computed amount to this currency's minor units, half away
    /// from zero (the rounding rule for amounts that fall due).
    pub fn round(&self, amount: Decimal) -> Decimal {
        let mut rounded =
            amount.round_dp_with_strategy(self.minor_units, RoundingStrategy::MidpointAwayFromZero);
        if rounded.is_zero() {
            // -0.004 rounds to zero; "-0.00" would only confuse a reader.
            rounded.set_sign_positive(true);
        }
        rounded
    }

    /// The API's string form: exactly `minor_units` decimals
    /// (`"1500000.00"`, `"1500000"` for JPY), rounded with [`Currency::round`]
    /// if the amount is more precise than that.
    pub fn format_amount(&self, amount: Decimal) -> String {
        let text = self.round(amount).to_string();
        let decimals = text.split_once('.').map_or(0, |(_, frac)| frac.len());
        let missing = self.minor_units as usize - decimals.min(self.minor_units as usize);
        let mut out = text;
        if missing > 0 {
            if decimals == 0 {
                out.push('.');
            }
            out.extend(std::iter::repeat_n('0', missing));
        }
        out
    }

    /// Splits `total` into `parts` amounts that add up to it exactly: each
    /// gets `total / parts` in whole minor units, and the remaining minor
    /// units go one each to the first parts (100.00 USD / 3 → 33.34, 33.33,
    /// 33.33). `parts` should be bounded by the caller: one amount per part is
    /// allocated.
    pub fn split_evenly(&self, total: Decimal, parts: usize) -> Result<Vec<Decimal>, MoneyError> {
        if parts == 0 {
            return Err(MoneyError::NoParts);
        }
        if total.is_sign_negative() && !total.is_zero() {
            return Err(MoneyError::NegativeTotal {
                amount: total,
                currency: self.code,
            });
        }
        let total_minor = self.to_minor_units(total)?;
        let n = i64::try_from(parts).map_err(|_| MoneyError::OutOfRange {
            amount: total,
            currency: self.code,
        })?;
        let base = total_minor / n;
        let remainder = total_minor % n;
        Ok((0..n)
            .map(|i| self.from_minor_units(base + i64::from(i < remainder)))
            .collect())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl FromStr for Currency {
    type Err = UnknownCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Currency::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "Active ISO 4217 currency code (any case on input, uppercase on output). \
                 Amounts in it may have at most its minor units of decimals.",
            ))
            .pattern(Some("^[A-Za-z]{3}$"))
            .examples(["CNY"])
            .into()
    }
}

impl utoipa::ToSchema for Currency {}

/// Why a decimal string was refused (messages are for the client, without
/// the field name, which the caller adds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalInputError {
    #[error("must not be empty")]
    Empty,
    #[error("must not be negative")]
    Negative,
    #[error("must be a plain decimal such as 1500000.00, without an exponent")]
    Exponent,
    #[error("must be a plain decimal such as 1500000.00 (digits, optionally a `.` and more digits; no sign, spaces or separators)")]
    NotADecimal,
    #[error("has too many decimal places")]
    TooManyDecimals,
    #[error("is too large")]
    TooLarge,
}

/// Parses a plain non-negative decimal string with at most `max_decimals`
/// decimals, keeping the scale as written (`"1.50"` has scale 2). Shared by
/// amounts, rates and percentages so they all refuse the same inputs:
/// signs, exponents (`1e5`), grouping (`1,000`), bare points (`.5`, `5.`),
/// spaces and non-ASCII digits.
pub fn parse_non_negative_decimal(
    input: &str,
    max_decimals: u32,
) -> Result<Decimal, DecimalInputError> {
    if input.is_empty() {
        return Err(DecimalInputError::Empty);
    }
    if input.starts_with('-') {
        return Err(DecimalInputError::Negative);
    }
    if input.contains(['e', 'E']) {
        return Err(DecimalInputError::Exponent);
    }
    let (whole, frac) = match input.split_once('.') {
        Some((whole, frac)) => (whole, Some(frac)),
        None => (input, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !frac.is_none_or(all_digits) {
        return Err(DecimalInputError::NotADecimal);
    }
    if frac.map_or(0, str::len) > max_decimals as usize {
        return Err(DecimalInputError::TooManyDecimals);
    }
    Decimal::from_str_exact(input).map_err(|_| DecimalInputError::TooLarge)
}

/// An exact amount in a currency.
///
/// JSON: `{"amount": "1500000.00", "currency": "CNY"}`; the amount is a string
/// (never a JSON number, which clients would parse as a float) and is checked
/// against the currency on input like [`Currency::parse_amount`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, utoipa::ToSchema)]
pub struct Money {
    #[schema(value_type = String, example = "1500000.00")]
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Money {
        Money { amount, currency }
    }

    pub fn zero(currency: Currency) -> Money {
        Money::new(currency.from_minor_units(0), currency)
    }

    /// Parses an amount typed in `currency` (see [`Currency::parse_amount`]).
    pub fn parse(amount: &str, currency: Currency) -> Result<Money, String> {
        currency
            .parse_amount(amount)
            .map(|amount| Money::new(amount, currency))
    }

    pub fn from_minor_units(minor_units: i64, currency: Currency) -> Money {
        Money::new(currency.from_minor_units(minor_units), currency)
    }

    pub fn to_minor_units(&self) -> Result<i64, MoneyError> {
        self.currency.to_minor_units(self.amount)
    }

    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.amount
            .checked_add(other.amount)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::OutOfRange {
                amount: self.amount,
                currency: self.currency.code,
            })
    }

    /// May go below zero (an overpaid balance).
    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.amount
            .checked_sub(other.amount)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::OutOfRange {
                amount: self.amount,
                currency: self.currency.code,
            })
    }

    /// See [`Currency::split_evenly`] for the rounding rule.
    pub fn split_evenly(&self, parts: usize) -> Result<Vec<Money>, MoneyError> {
        Ok(self
            .currency
            .split_evenly(self.amount, parts)?
            .into_iter()
            .map(|amount| Money::new(amount, self.currency))
            .collect())
    }

    /// The amount's API string (`"1500000.00"`), see [`Currency::format_amount`].
    pub fn formatted_amount(&self) -> String {
        self.currency.format_amount(self.amount)
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency.code,
                right: other.currency.code,
            })
        }
    }
}

impl fmt::Display for Money {
    /// `1500000.00 CNY`, for messages and e-mails.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.formatted_amount(), self.currency.code)
    }
}

#[derive(Serialize, Deserialize)]
struct MoneyJson {
    amount: String,
    currency: Currency,
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        MoneyJson {
            amount: self.formatted_amount(),
            currency: self.currency,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = MoneyJson::deserialize(deserializer)?;
        Money::parse(&raw.amount, raw.currency)
            .map_err(|e| serde::de::Error::custom(format!("amount {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn table_is_sorted_unique_and_well_formed() {
        assert_eq!(CURRENCIES.len(), 165);
        assert!(CURRENCIES.windows(2).all(|w| w[0].code < w[1].code));
        for c in Currency::all() {
            assert_eq!(c.code.len(), 3);
            assert!(c.code.bytes().all(|b| b.is_ascii_uppercase()), "{}", c.code);
            assert!([0, 2, 3, 4].contains(&c.minor_units), "{}", c.code);
            assert_eq!(cur(c.code), *c);
        }
    }

    #[test]
    fn minor_units_of_known_currencies() {
        for (code, minor) in [
            ("JPY", 0),
            ("KRW", 0),
            ("VND", 0),
            ("CLP", 0),
            ("ISK", 0),
            ("XOF", 0),
            ("UYI", 0),
            ("CNY", 2),
            ("USD", 2),
            ("EUR", 2),
            ("GBP", 2),
            ("HKD", 2),
            ("INR", 2),
            ("BHD", 3),
            ("KWD", 3),
            ("JOD", 3),
            ("OMR", 3),
            ("TND", 3),
            ("IQD", 3),
            ("LYD", 3),
            ("CLF", 4),
            ("UYW", 4),
            ("XCG", 2),
            ("ZWG", 2),
        ] {
            assert_eq!(cur(code).minor_units(), minor, "{code}");
            assert_eq!(cur(code).code(), code);
        }
    }

    #[test]
    fn codes_are_case_insensitive() {
        assert_eq!(cur("cny"), cur("CNY"));
        assert_eq!(cur("Usd").code(), "USD");
        assert_eq!("eur".parse::<Currency>().unwrap().to_string(), "EUR");
    }

    #[test]
    fn unknown_withdrawn_and_unit_less_codes_are_refused() {
        for code in [
            "", "US", "USDD", "ABC", "HRK", "ZWL", "ANG", "BGN", "XAU", "XAG", "XDR", "XTS", "XXX",
            " USD", "U$D",
        ] {
            let err = Currency::parse(code).unwrap_err();
            assert!(err.to_string().contains("ISO 4217"), "{code}");
        }
    }

    #[test]
    fn parse_amount_accepts_plain_decimals_and_pads_to_minor_units() {
        let usd = cur("USD");
        for (input, expected) in [
            ("1500000.00", "1500000.00"),
            ("1500000", "1500000.00"),
            ("1500000.5", "1500000.50"),
            ("0", "0.00"),
            ("0.01", "0.01"),
            ("007.10", "7.10"),
        ] {
            assert_eq!(
                usd.parse_amount(input).unwrap().to_string(),
                expected,
                "{input}"
            );
        }
        assert_eq!(
            cur("JPY").parse_amount("1500000").unwrap().to_string(),
            "1500000"
        );
        assert_eq!(
            cur("BHD").parse_amount("1.234").unwrap().to_string(),
            "1.234"
        );
        assert_eq!(cur("KWD").parse_amount("2.5").unwrap().to_string(), "2.500");
        assert_eq!(
            cur("CLF").parse_amount("1.2345").unwrap().to_string(),
            "1.2345"
        );
    }

    #[test]
    fn parse_amount_refuses_too_many_decimals() {
        let cases = [
            ("USD", "1.001"),
            ("CNY", "0.001"),
            ("USD", "1.000"),
            ("BHD", "1.2345"),
            ("KWD", "0.0001"),
            ("CLF", "1.23456"),
        ];
        for (code, input) in cases {
            let err = cur(code).parse_amount(input).unwrap_err();
            assert!(err.contains("decimal places"), "{code} {input}: {err}");
            assert!(err.contains(code), "{err}");
        }
        let jpy = cur("JPY");
        for input in ["100.5", "100.0", "100."] {
            assert!(jpy.parse_amount(input).is_err(), "{input}");
        }
        assert!(jpy
            .parse_amount("100.0")
            .unwrap_err()
            .contains("whole number"));
    }

    #[test]
    fn parse_amount_refuses_negatives() {
        for input in ["-1", "-0", "-0.00", "-1500000.00"] {
            assert_eq!(
                cur("USD").parse_amount(input).unwrap_err(),
                "must not be negative"
            );
        }
    }

    #[test]
    fn parse_amount_refuses_exponents() {
        for input in ["1e5", "1E5", "1.5e2", "1e-2", "1e+5"] {
            let err = cur("USD").parse_amount(input).unwrap_err();
            assert!(err.contains("exponent"), "{input}: {err}");
        }
    }

    #[test]
    fn parse_amount_refuses_empty() {
        assert_eq!(
            cur("USD").parse_amount("").unwrap_err(),
            "must not be empty"
        );
    }

    #[test]
    fn parse_amount_refuses_anything_but_plain_digits() {
        for input in [
            " 1", "1 ", "+1", "1,000.00", "1_000", ".5", "5.", ".", "1.2.3", "NaN", "inf", "0x10",
            "١٢", "１", "1.5$", "$1.50", "one",
        ] {
            let err = cur("USD").parse_amount(input).unwrap_err();
            assert!(err.contains("plain decimal"), "{input}: {err}");
        }
    }

    #[test]
    fn parse_amount_refuses_amounts_that_do_not_fit_in_minor_units() {
        let usd = cur("USD");
        // i64::MAX cents is 92233720368547758.07 USD.
        assert!(usd.parse_amount("92233720368547758.07").is_ok());
        assert_eq!(
            usd.parse_amount("92233720368547758.08").unwrap_err(),
            "is too large"
        );
        assert_eq!(
            usd.parse_amount("99999999999999999999999999999999999")
                .unwrap_err(),
            "is too large"
        );
    }

    #[test]
    fn parse_rate() {
        assert_eq!(
            Currency::parse_rate("0.0045").unwrap().to_string(),
            "0.0045"
        );
        assert_eq!(
            Currency::parse_rate("0.00450").unwrap().to_string(),
            "0.0045"
        );
        assert_eq!(
            Currency::parse_rate("0.0000000001").unwrap(),
            dec("0.0000000001")
        );
        assert_eq!(Currency::parse_rate("2").unwrap(), dec("2"));
        assert!(Currency::parse_rate("0.00000000001")
            .unwrap_err()
            .contains("decimal places"));
        assert_eq!(
            Currency::parse_rate("-0.1").unwrap_err(),
            "must not be negative"
        );
        assert!(Currency::parse_rate("4.5e-3")
            .unwrap_err()
            .contains("exponent"));
        assert_eq!(Currency::parse_rate("").unwrap_err(), "must not be empty");
        assert!(Currency::parse_rate(".0045").is_err());
    }

    #[test]
    fn to_minor_units() {
        assert_eq!(cur("USD").to_minor_units(dec("12.34")), Ok(1234));
        assert_eq!(cur("USD").to_minor_units(dec("12.340")), Ok(1234));
        assert_eq!(cur("USD").to_minor_units(dec("12")), Ok(1200));
        assert_eq!(cur("USD").to_minor_units(dec("-12.34")), Ok(-1234));
        assert_eq!(cur("JPY").to_minor_units(dec("1500000")), Ok(1_500_000));
        assert_eq!(cur("BHD").to_minor_units(dec("1.234")), Ok(1234));
        assert_eq!(cur("CLF").to_minor_units(dec("1.2345")), Ok(12345));
        assert!(matches!(
            cur("USD").to_minor_units(dec("12.345")),
            Err(MoneyError::TooPrecise { minor_units: 2, .. })
        ));
        assert!(matches!(
            cur("JPY").to_minor_units(dec("0.5")),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            cur("USD").to_minor_units(dec("92233720368547758.08")),
            Err(MoneyError::OutOfRange { .. })
        ));
        assert!(matches!(
            cur("CLF").to_minor_units(Decimal::MAX),
            Err(MoneyError::OutOfRange { .. })
        ));
    }

    #[test]
    fn from_minor_units() {
        assert_eq!(cur("USD").from_minor_units(1234).to_string(), "12.34");
        assert_eq!(cur("USD").from_minor_units(5).to_string(), "0.05");
        assert_eq!(cur("JPY").from_minor_units(1234).to_string(), "1234");
        assert_eq!(cur("BHD").from_minor_units(1234).to_string(), "1.234");
        assert_eq!(cur("CLF").from_minor_units(-1).to_string(), "-0.0001");
    }

    #[test]
    fn format_amount_has_exactly_minor_units_decimals() {
        assert_eq!(cur("CNY").format_amount(dec("1500000")), "1500000.00");
        assert_eq!(cur("CNY").format_amount(dec("1500000.5")), "1500000.50");
        assert_eq!(cur("CNY").format_amount(dec("1500000.500")), "1500000.50");
        assert_eq!(cur("JPY").format_amount(dec("1500000")), "1500000");
        assert_eq!(cur("JPY").format_amount(dec("1500000.00")), "1500000");
        assert_eq!(cur("BHD").format_amount(dec("1.5")), "1.500");
        assert_eq!(cur("CLF").format_amount(dec("1")), "1.0000");
        assert_eq!(cur("USD").format_amount(dec("0")), "0.00");
        assert_eq!(cur("USD").format_amount(dec("-3.1")), "-3.10");
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        let usd = cur("USD");
        assert_eq!(usd.round(dec("0.005")), dec("0.01"));
        assert_eq!(usd.round(dec("0.015")), dec("0.02"));
        assert_eq!(usd.round(dec("0.0049")), dec("0.00"));
        assert_eq!(usd.round(dec("-0.005")), dec("-0.01"));
        assert_eq!(usd.format_amount(dec("-0.004")), "0.00");
        assert_eq!(cur("JPY").round(dec("2.5")), dec("3"));
        assert_eq!(cur("JPY").format_amount(dec("0.5")), "1");
        // 1,000,000 streams at 0.0045 CNY = 4500.00 CNY; 333 streams = 1.4985 → 1.50.
        let cny = cur("CNY");
        assert_eq!(
            cny.format_amount(dec("0.0045") * Decimal::from(333)),
            "1.50"
        );
    }

    #[test]
    fn split_evenly_gives_the_remainder_to_the_first_parts() {
        let usd = cur("USD");
        assert_eq!(
            usd.split_evenly(dec("100.00"), 3).unwrap(),
            vec![dec("33.34"), dec("33.33"), dec("33.33")]
        );
        assert_eq!(
            usd.split_evenly(dec("100.02"), 4).unwrap(),
            vec![dec("25.01"), dec("25.01"), dec("25.00"), dec("25.00")]
        );
        assert_eq!(
            usd.split_evenly(dec("0.01"), 3).unwrap(),
            vec![dec("0.01"), dec("0.00"), dec("0.00")]
        );
        assert_eq!(
            cur("JPY").split_evenly(dec("100"), 3).unwrap(),
            vec![dec("34"), dec("33"), dec("33")]
        );
        assert_eq!(
            cur("CNY").split_evenly(dec("6000000.00"), 2).unwrap(),
            vec![dec("3000000.00"), dec("3000000.00")]
        );
        assert_eq!(usd.split_evenly(dec("5"), 1).unwrap(), vec![dec("5.00")]);
        assert_eq!(
            usd.split_evenly(dec("0"), 2).unwrap(),
            vec![dec("0"), dec("0")]
        );
    }

    #[test]
    fn split_evenly_refusals() {
        let usd = cur("USD");
        assert_eq!(usd.split_evenly(dec("1"), 0), Err(MoneyError::NoParts));
        assert!(matches!(
            usd.split_evenly(dec("-1"), 2),
            Err(MoneyError::NegativeTotal { .. })
        ));
        assert!(matches!(
            usd.split_evenly(dec("1.001"), 2),
            Err(MoneyError::TooPrecise { .. })
        ));
    }

    #[test]
    fn money_arithmetic_checks_currencies() {
        let a = Money::parse("10.50", cur("USD")).unwrap();
        let b = Money::parse("0.75", cur("USD")).unwrap();
        assert_eq!(a.checked_add(&b).unwrap().formatted_amount(), "11.25");
        assert_eq!(b.checked_sub(&a).unwrap().formatted_amount(), "-9.75");
        let yen = Money::parse("100", cur("JPY")).unwrap();
        assert_eq!(
            a.checked_add(&yen),
            Err(MoneyError::CurrencyMismatch {
                left: "USD",
                right: "JPY"
            })
        );
        assert_eq!(Money::zero(cur("BHD")).formatted_amount(), "0.000");
        assert_eq!(
            Money::from_minor_units(1234, cur("USD")).to_minor_units(),
            Ok(1234)
        );
        assert_eq!(a.to_string(), "10.50 USD");
    }

    #[test]
    fn money_split() {
        let total = Money::parse("6000000.00", cur("CNY")).unwrap();
        let parts = total.split_evenly(2).unwrap();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.currency == cur("CNY")));
        assert_eq!(parts[0].formatted_amount(), "3000000.00");
    }

    #[test]
    fn money_json() {
        let m = Money::parse("1500000", cur("CNY")).unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"amount":"1500000.00","currency":"CNY"}"#
        );
        let back: Money =
            serde_json::from_str(r#"{"amount":"1500000.00","currency":"cny"}"#).unwrap();
        assert_eq!(back, m);
        for bad in [
            r#"{"amount":1500000.00,"currency":"CNY"}"#,
            r#"{"amount":"1.001","currency":"USD"}"#,
            r#"{"amount":"1","currency":"ABC"}"#,
            r#"{"amount":"-1","currency":"USD"}"#,
            r#"{"amount":"1e5","currency":"USD"}"#,
            r#"{"currency":"USD"}"#,
        ] {
            assert!(serde_json::from_str::<Money>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn currency_json_and_schemas() {
        assert_eq!(serde_json::to_string(&cur("cny")).unwrap(), "\"CNY\"");
        assert_eq!(
            serde_json::from_str::<Currency>("\"jpy\"").unwrap(),
            cur("JPY")
        );
        assert!(serde_json::from_str::<Currency>("\"XAU\"").is_err());
        let schema = serde_json::to_value(<Currency as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["type"], "string");
        let money = serde_json::to_value(<Money as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(money["properties"]["amount"]["type"], "string");
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        proptest::sample::select(CURRENCIES.to_vec())
    }

    proptest! {
        #[test]
        fn split_evenly_sums_exactly(
            currency in any_currency(),
            total_minor in 0_i64..=1_000_000_000_000_000,
            parts in 1_usize..=60,
        ) {
            let total = currency.from_minor_units(total_minor);
            let split = currency.split_evenly(total, parts).unwrap();
            prop_assert_eq!(split.len(), parts);
            let sum: Decimal = split.iter().copied().sum();
            prop_assert_eq!(sum, total);
            let minor: Vec<i64> = split.iter().map(|a| currency.to_minor_units(*a).unwrap()).collect();
            // Non-increasing, and at most one minor unit apart.
            prop_assert!(minor.windows(2).all(|w| w[0] >= w[1]));
            prop_assert!(minor[0] - minor[parts - 1] <= 1);
        }

        #[test]
        fn minor_units_round_trip(currency in any_currency(), minor in any::<i64>()) {
            let amount = currency.from_minor_units(minor);
            prop_assert_eq!(currency.to_minor_units(amount), Ok(minor));
        }

        #[test]
        fn formatted_amounts_parse_back(currency in any_currency(), minor in 0_i64..=i64::MAX) {
            let amount = currency.from_minor_units(minor);
            let text = currency.format_amount(amount);
            prop_assert_eq!(text.split_once('.').map_or(0, |(_, f)| f.len()), currency.minor_units() as usize);
            let parsed = currency.parse_amount(&text).unwrap();
            prop_assert_eq!(parsed, amount);
            prop_assert_eq!(parsed.to_string(), text);
        }

        #[test]
        fn parse_amount_never_panics_and_accepts_only_payable_amounts(
            currency in any_currency(),
            input in "[-+0-9.eE ,]{0,24}|\\PC{0,12}",
        ) {
            if let Ok(amount) = currency.parse_amount(&input) {
                prop_assert!(!amount.is_sign_negative() || amount.is_zero());
                prop_assert!(currency.to_minor_units(amount).is_ok());
                prop_assert_eq!(amount.scale(), currency.minor_units());
            }
        }

        #[test]
        fn round_gives_a_payable_amount(currency in any_currency(), mantissa in any::<i64>(), scale in 0_u32..=12) {
            let amount = Decimal::new(mantissa, scale);
            let rounded = currency.round(amount);
            // Payable: nothing beyond the minor units (huge amounts may still not fit in i64).
            let too_precise = matches!(currency.to_minor_units(rounded), Err(MoneyError::TooPrecise { .. }));
            prop_assert!(!too_precise);
            prop_assert!(rounded.scale() <= currency.minor_units());
            // Never off by more than half a minor unit.
            let half = Decimal::new(5, currency.minor_units() + 1);
            prop_assert!((rounded - amount).abs() <= half);
        }
    }
}
