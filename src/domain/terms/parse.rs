//! Reading a term sheet from its input: every field checked, every problem
//! named by its path, and the terms fitted to the catalog's holding.

use super::*;

/// A strict `YYYY-MM-DD` calendar date.
pub(super) fn parse_date(input: &str) -> Result<NaiveDate, String> {
    let bytes = input.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    let invalid = || format!("must be a date as YYYY-MM-DD, such as 2027-01-01 (got `{input}`)");
    if !shaped {
        return Err(invalid());
    }
    let number = |range: std::ops::Range<usize>| input[range].parse::<u32>().ok();
    match (number(0..4), number(5..7), number(8..10)) {
        (Some(y), Some(m), Some(d)) => i32::try_from(y)
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, m, d))
            .ok_or_else(|| format!("`{input}` is not a calendar date")),
        _ => Err(invalid()),
    }
}

pub(super) fn parse_instant(input: &str) -> Result<DateTime<Utc>, String> {
    let instant = DateTime::parse_from_rfc3339(input)
        .map_err(|_| {
            format!("must be an RFC 3339 instant such as 2026-12-31T00:00:00Z (got `{input}`)")
        })?
        .with_timezone(&Utc)
        .trunc_subsecs(0);
    // The canonical form has a four-digit year; offsets could push past it.
    let year = chrono::Datelike::year(&instant);
    if !(1..=9999).contains(&year) {
        return Err("must be between years 0001 and 9999 in UTC".to_string());
    }
    Ok(instant)
}

pub(super) fn parse_percent(input: &str) -> Result<Decimal, String> {
    let percent = parse_non_negative_decimal(input, PERCENT_MAX_DECIMALS).map_err(|e| match e {
        DecimalInputError::TooManyDecimals => {
            format!("must have at most {PERCENT_MAX_DECIMALS} decimal places")
        }
        other => other.to_string(),
    })?;
    if percent > Decimal::ONE_HUNDRED {
        return Err("must be between 0 and 100".to_string());
    }
    Ok(percent.normalize())
}

pub(super) fn has_forbidden_control(text: &str, allow_line_breaks: bool) -> bool {
    text.chars()
        .any(|c| c.is_control() && !(allow_line_breaks && matches!(c, '\n' | '\r' | '\t')))
}

/// Parsing state of one optional field.
#[derive(Clone, Copy)]
pub(super) enum Field<T> {
    Absent,
    Valid(T),
    Invalid,
}

impl<T: Copy> Field<T> {
    fn value(&self) -> Option<T> {
        match self {
            Field::Valid(v) => Some(*v),
            _ => None,
        }
    }
}

pub(super) fn optional<T>(
    errors: &mut ValidationErrors,
    field: &str,
    input: Option<&str>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Field<T> {
    match input.map(parse) {
        None => Field::Absent,
        Some(Ok(v)) => Field::Valid(v),
        Some(Err(message)) => {
            errors.push(field, message);
            Field::Invalid
        }
    }
}

pub(super) fn required<T>(
    errors: &mut ValidationErrors,
    field: &str,
    result: Result<T, String>,
) -> Option<T> {
    result.map_err(|message| errors.push(field, message)).ok()
}

pub(super) fn collect<T>(
    errors: &mut ValidationErrors,
    result: Result<T, ValidationErrors>,
) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            errors.0.extend(e.0);
            None
        }
    }
}

pub(super) fn parse_terms(
    input: &TermSheetInput,
    moment: Option<(&TermsContext, DateTime<Utc>)>,
) -> Result<TermSheet, ValidationErrors> {
    let mut errors = ValidationErrors::new();

    let slice_id = &input.slice_id;
    if slice_id.trim().is_empty() {
        errors.push("slice_id", "must not be empty");
    } else if slice_id.chars().count() > MAX_SLICE_ID_CHARS {
        errors.push(
            "slice_id",
            format!("must be at most {MAX_SLICE_ID_CHARS} characters"),
        );
    } else if has_forbidden_control(slice_id, false) {
        errors.push("slice_id", "must not contain control characters");
    }

    let territories = collect(
        &mut errors,
        Territories::parse_list_at("territories", &input.territories),
    );
    let usages = collect(&mut errors, Usages::parse_list_at("usages", &input.usages));
    let start = required(&mut errors, "start_date", parse_date(&input.start_date));
    let end = required(&mut errors, "end_date", parse_date(&input.end_date));
    let period = match (start, end) {
        (Some(start), Some(end)) => collect(&mut errors, Period::validate(start, end, "end_date")),
        _ => None,
    };

    let currency = required(
        &mut errors,
        "currency",
        Currency::parse(&input.currency).map_err(|e| e.to_string()),
    );
    // With an unknown currency amounts are still checked for shape, so the
    // client hears about every problem at once.
    let amount = |s: &str| match currency {
        Some(c) => c.parse_amount(s),
        None => parse_non_negative_decimal(s, u32::MAX).map_err(|e| e.to_string()),
    };
    let upfront_fee = optional(
        &mut errors,
        "upfront_fee",
        input.upfront_fee.as_deref(),
        amount,
    );
    let minimum_guarantee = optional(
        &mut errors,
        "minimum_guarantee",
        input.minimum_guarantee.as_deref(),
        amount,
    );
    let per_stream_rate = optional(
        &mut errors,
        "per_stream_rate",
        input.per_stream_rate.as_deref(),
        Currency::parse_rate,
    );
    let revenue_share_percent = optional(
        &mut errors,
        "revenue_share_percent",
        input.revenue_share_percent.as_deref(),
        parse_percent,
    );
    let royalties = match &input.royalties {
        None => Field::Absent,
        Some(royalty_terms) => {
            for (field, value) in [
                ("minimum_guarantee", &input.minimum_guarantee),
                ("per_stream_rate", &input.per_stream_rate),
                ("revenue_share_percent", &input.revenue_share_percent),
            ] {
                if value.is_some() {
                    errors.push(
                        field,
                        "must be absent when royalties are given: state it in royalties instead",
                    );
                }
            }
            match parse_royalties(&mut errors, royalty_terms, currency, &amount) {
                Some(economics) => Field::Valid(economics),
                None => Field::Invalid,
            }
        }
    };
    let fees = [
        &upfront_fee,
        &minimum_guarantee,
        &per_stream_rate,
        &revenue_share_percent,
    ];
    let any_invalid_fee =
        fees.iter().any(|f| matches!(f, Field::Invalid)) || matches!(royalties, Field::Invalid);
    let royalties_pay = match &royalties {
        Field::Valid(e) => {
            e.advance.is_some()
                || e.minimum_guarantee.is_some()
                || e.revenue_share.is_some()
                || e.per_stream_floor.is_some_and(|r| r > Decimal::ZERO)
                || e.per_subscriber_floor.is_some_and(|r| r > Decimal::ZERO)
        }
        _ => false,
    };
    let any_positive_fee = royalties_pay
        || fees
            .iter()
            .any(|f| f.value().is_some_and(|v| v > Decimal::ZERO));
    if !any_invalid_fee && !any_positive_fee {
        errors.push(
            "fee_model",
            "at least one of upfront_fee, minimum_guarantee, per_stream_rate and \
             revenue_share_percent (or the royalties' advance, guarantee, share or floors) \
             must be present and greater than 0",
        );
    }

    let installments = parse_installments(&mut errors, input, end, &amount);
    if let (Some(installments), Some(currency)) = (&installments, currency) {
        // Paid ahead by the schedule: the advance of the royalty terms, or
        // the earlier minimum guarantee.
        let (ahead, ahead_name) = match &royalties {
            Field::Absent => (minimum_guarantee, "minimum_guarantee"),
            Field::Valid(e) => (
                match e.advance {
                    Some(a) => Field::Valid(a.amount),
                    None => Field::Absent,
                },
                "royalties.advance.amount",
            ),
            Field::Invalid => (Field::Invalid, "royalties.advance.amount"),
        };
        check_installment_total(
            &mut errors,
            installments,
            currency,
            &upfront_fee,
            (&ahead, ahead_name),
        );
    }

    let clauses = match input.clauses.as_deref() {
        None => None,
        Some(text) if text.trim().is_empty() => None,
        Some(text) => {
            if text.chars().count() > MAX_CLAUSES_CHARS {
                errors.push(
                    "clauses",
                    format!("must be at most {MAX_CLAUSES_CHARS} characters"),
                );
            } else if has_forbidden_control(text, true) {
                errors.push(
                    "clauses",
                    "must not contain control characters other than tab and line breaks",
                );
            }
            Some(text.to_string())
        }
    };

    let respond_by = optional(
        &mut errors,
        "respond_by",
        input.respond_by.as_deref(),
        parse_instant,
    );

    let tracks_hash = match moment {
        Some((ctx, _)) => {
            if let Some(sent) = input
                .tracks_hash
                .as_deref()
                .filter(|h| *h != ctx.tracks_hash)
            {
                errors.push(
                    "tracks_hash",
                    format!(
                        "{sent} is not the slice's tracks hash ({}): the slice is not the one you read",
                        ctx.tracks_hash
                    ),
                );
            }
            Some(ctx.tracks_hash.clone())
        }
        None => {
            let stored = input.tracks_hash.clone();
            if stored.as_deref().is_some_and(|h| {
                h.len() != 64
                    || !h
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            }) {
                errors.push("tracks_hash", "must be 64 lowercase hexadecimal digits");
            }
            stored
        }
    };

    if let Some((ctx, now)) = moment {
        check_holding(&mut errors, input, ctx, start, end, &territories, &usages);
        if let Some(respond_by) = respond_by.value() {
            if respond_by <= now {
                errors.push(
                    "respond_by",
                    format!("must be in the future (it is now {})", format_instant(now)),
                );
            }
        }
    }

    errors.into_result()?;
    match (
        territories,
        usages,
        period,
        currency,
        installments,
        upfront_fee,
        minimum_guarantee,
        per_stream_rate,
        revenue_share_percent,
        respond_by,
    ) {
        (
            Some(territories),
            Some(usages),
            Some(period),
            Some(currency),
            Some(installments),
            upfront_fee,
            minimum_guarantee,
            per_stream_rate,
            revenue_share_percent,
            respond_by,
        ) => Ok(TermSheet {
            slice_id: input.slice_id.clone(),
            territories,
            usages,
            period,
            exclusive: input.exclusive,
            sublicensable: input.sublicensable,
            currency,
            upfront_fee: upfront_fee.value(),
            minimum_guarantee: minimum_guarantee.value(),
            per_stream_rate: per_stream_rate.value(),
            revenue_share_percent: revenue_share_percent.value(),
            installments,
            clauses,
            respond_by: respond_by.value(),
            tracks_hash,
            royalties: match royalties {
                Field::Valid(economics) => Some(economics),
                _ => None,
            },
        }),
        // Every field that failed pushed an error, so this is unreachable; it
        // is still answered as an error rather than a panic.
        _ => Err(ValidationErrors::single("terms", "invalid terms")),
    }
}

/// The installments, or `None` when any of them is invalid (errors pushed).
pub(super) fn parse_installments(
    errors: &mut ValidationErrors,
    input: &TermSheetInput,
    end: Option<NaiveDate>,
    amount: &dyn Fn(&str) -> Result<Decimal, String>,
) -> Option<Vec<Installment>> {
    if input.installments.len() > MAX_INSTALLMENTS {
        errors.push(
            "installments",
            format!("must have at most {MAX_INSTALLMENTS} installments"),
        );
        return None;
    }
    let mut installments = Vec::with_capacity(input.installments.len());
    let mut all_valid = true;
    let mut previous: Option<(usize, NaiveDate)> = None;
    for (i, raw) in input.installments.iter().enumerate() {
        let due_field = format!("installments[{i}].due_date");
        let amount_field = format!("installments[{i}].amount");
        let due_date = required(errors, &due_field, parse_date(&raw.due_date));
        if let Some(due) = due_date {
            if let Some(end) = end.filter(|end| due > *end) {
                errors.push(
                    &due_field,
                    format!("must not be after end_date ({})", format_date(end)),
                );
            }
            if let Some((j, before)) = previous.filter(|(_, before)| due < *before) {
                errors.push(
                    &due_field,
                    format!(
                        "must not be before installments[{j}].due_date ({}): \
                         installments are listed in due-date order",
                        format_date(before)
                    ),
                );
            }
            previous = Some((i, due));
        }
        let value = match amount(&raw.amount) {
            Ok(v) if v.is_zero() => {
                errors.push(&amount_field, "must be greater than 0");
                None
            }
            Ok(v) => Some(v),
            Err(message) => {
                errors.push(&amount_field, message);
                None
            }
        };
        match (due_date, value) {
            (Some(due_date), Some(amount)) => installments.push(Installment { due_date, amount }),
            _ => all_valid = false,
        }
    }
    all_valid.then_some(installments)
}

pub(super) fn check_installment_total(
    errors: &mut ValidationErrors,
    installments: &[Installment],
    currency: Currency,
    upfront_fee: &Field<Decimal>,
    (ahead, ahead_name): (&Field<Decimal>, &str),
) {
    if matches!(upfront_fee, Field::Invalid) || matches!(ahead, Field::Invalid) {
        return;
    }
    let total = upfront_fee.value().unwrap_or_default() + ahead.value().unwrap_or_default();
    let sum = installments
        .iter()
        .try_fold(Decimal::ZERO, |acc, i| acc.checked_add(i.amount));
    let show = |d: Decimal| format!("{} {}", currency.format_amount(d), currency.code());
    match sum {
        _ if total > Decimal::ZERO && installments.is_empty() => errors.push(
            "installments",
            format!(
                "are required: upfront_fee + {ahead_name} ({}) must be scheduled",
                show(total)
            ),
        ),
        Some(sum) if sum == total => {}
        Some(sum) => errors.push(
            "installments",
            format!(
                "add up to {}, but upfront_fee + {ahead_name} is {}; they must be equal",
                show(sum),
                show(total)
            ),
        ),
        None => errors.push("installments", "add up to more than can be represented"),
    }
}

pub(super) fn check_holding(
    errors: &mut ValidationErrors,
    input: &TermSheetInput,
    ctx: &TermsContext,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    territories: &Option<Territories>,
    usages: &Option<Usages>,
) {
    let holder = ctx.holder();
    if let Some(ended) = ctx.upstream.as_ref().and_then(|u| u.ended_on) {
        errors.push(
            "slice_id",
            format!(
                "{holder} ended on {}: its rights can no longer be passed on",
                format_date(ended)
            ),
        );
    }
    // Per entry, so a form can mark exactly what is not held; only once the
    // list itself parsed, to avoid a second error on a bad entry.
    if territories.is_some() && !ctx.territories.is_worldwide() {
        for (i, item) in input.territories.iter().enumerate() {
            if item.eq_ignore_ascii_case(WORLDWIDE) {
                errors.push(
                    format!("territories[{i}]"),
                    format!("{holder} does not hold worldwide rights"),
                );
            } else if let Ok(t) = Territory::parse(item) {
                if !ctx.territories.contains(t) {
                    errors.push(
                        format!("territories[{i}]"),
                        format!("{t} is not among {holder}'s territories"),
                    );
                }
            }
        }
    }
    if usages.is_some() {
        for (i, item) in input.usages.iter().enumerate() {
            if let Ok(u) = item.parse::<Usage>() {
                if !ctx.usages.contains(u) {
                    errors.push(
                        format!("usages[{i}]"),
                        format!("{u} is not among {holder}'s usages"),
                    );
                }
            }
        }
    }
    let holding = ctx.period;
    if let Some(start) = start.filter(|s| *s < holding.start) {
        errors.push(
            "start_date",
            format!(
                "{} is before {holder}'s period starts ({})",
                format_date(start),
                format_date(holding.start)
            ),
        );
    }
    if let Some(end) = end.filter(|e| *e > holding.end) {
        errors.push(
            "end_date",
            format!(
                "{} is after {holder}'s period ends ({})",
                format_date(end),
                format_date(holding.end)
            ),
        );
    }
    if input.sublicensable && !ctx.sublicensable {
        errors.push(
            "sublicensable",
            format!("{holder} does not allow sublicensing further"),
        );
    }
    if input.exclusive && !ctx.exclusive {
        errors.push(
            "exclusive",
            format!("{holder} is not exclusive, so its rights cannot be passed on exclusively"),
        );
    }
}
