//! An executed grant written for the licensee's own systems (`docs/ddex.md`,
//! "Executed grants out"): a DDEX-style deal document (the deal terms and every
//! recording they cover) and an ODRL 2.2 Agreement in JSON-LD.

use std::fmt::Write as _;

use chrono::NaiveDate;
use quick_xml::escape::escape;
use serde_json::{json, Value};

use super::usage::Usage;

/// A party as written in the documents.
#[derive(Debug, Clone)]
pub struct ExportParty {
    pub organization_id: String,
    pub name: String,
}

/// The fees of the agreed terms, decimal strings as signed.
#[derive(Debug, Clone, Default)]
pub struct ExportFees {
    pub currency: Option<String>,
    pub upfront_fee: Option<String>,
    pub minimum_guarantee: Option<String>,
    pub per_stream_rate: Option<String>,
    pub revenue_share_percent: Option<String>,
}

/// Everything the two documents say about a grant.
#[derive(Debug, Clone)]
pub struct GrantDocument {
    pub grant_id: String,
    pub deal_id: String,
    pub terms_hash: String,
    pub tracks_hash: String,
    pub status: String,
    pub licensor: ExportParty,
    pub licensee: ExportParty,
    /// ISO codes, or `["worldwide"]`.
    pub territories: Vec<String>,
    pub usages: Vec<Usage>,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub exclusive: bool,
    pub sublicensable: bool,
    pub fees: ExportFees,
    /// The granted recordings, in ISRC order.
    pub isrcs: Vec<String>,
}

/// The DDEX use type a Cadenza usage is written as; usages DDEX has no use type
/// for are `UserDefined` with the usage as `UserDefinedValue` (DDEX's own
/// convention for values outside its lists).
pub fn ddex_use_type(usage: Usage) -> Option<&'static str> {
    match usage {
        Usage::InteractiveStreaming => Some("OnDemandStream"),
        Usage::NonInteractiveStreaming => Some("NonInteractiveStream"),
        Usage::Download => Some("PermanentDownload"),
        Usage::Ringtone => Some("RingtoneDownload"),
        Usage::Lyrics | Usage::Video | Usage::Sync | Usage::PublicPerformance => None,
    }
}

/// The ODRL action a usage refines (the usage itself is the refinement's `purpose`).
pub fn odrl_action(usage: Usage) -> &'static str {
    match usage {
        Usage::InteractiveStreaming | Usage::NonInteractiveStreaming | Usage::Video => "stream",
        Usage::Download | Usage::Ringtone => "distribute",
        Usage::Lyrics => "display",
        Usage::Sync => "modify",
        Usage::PublicPerformance => "play",
    }
}

fn x(text: &str) -> std::borrow::Cow<'_, str> {
    escape(text)
}

/// The DDEX-style deal document: one `Deal` whose `DealTerms` are the grant's,
/// covering every granted recording (`DealResourceReference` per ISRC).
pub fn ddex_deal(doc: &GrantDocument) -> String {
    let mut out = String::with_capacity(1024 + doc.isrcs.len() * 120);
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<GrantDealMessage xmlns="urn:cadenza:grant-deal:1" GrantId="{}" DealId="{}" TermsHash="{}" TracksHash="{}" Status="{}">"#,
        x(&doc.grant_id),
        x(&doc.deal_id),
        x(&doc.terms_hash),
        x(&doc.tracks_hash),
        x(&doc.status)
    );
    for (role, party) in [("Licensor", &doc.licensor), ("Licensee", &doc.licensee)] {
        let _ = writeln!(
            out,
            "  <{role}>\n    <PartyId Namespace=\"cadenza\">{}</PartyId>\n    <PartyName><FullName>{}</FullName></PartyName>\n  </{role}>",
            x(&party.organization_id),
            x(&party.name)
        );
    }
    out.push_str("  <ResourceList>\n");
    for (i, isrc) in doc.isrcs.iter().enumerate() {
        let _ = writeln!(
            out,
            "    <SoundRecording><ResourceReference>A{}</ResourceReference><ResourceId><ISRC>{}</ISRC></ResourceId></SoundRecording>",
            i + 1,
            x(isrc)
        );
    }
    out.push_str("  </ResourceList>\n  <DealList>\n    <ResourceDeal>\n");
    for i in 0..doc.isrcs.len() {
        let _ = writeln!(
            out,
            "      <DealResourceReference>A{}</DealResourceReference>",
            i + 1
        );
    }
    out.push_str("      <Deal>\n        <DealTerms>\n");
    if doc.territories.iter().any(|t| t == "worldwide") {
        out.push_str("          <TerritoryCode>Worldwide</TerritoryCode>\n");
    } else {
        for territory in &doc.territories {
            let _ = writeln!(
                out,
                "          <TerritoryCode>{}</TerritoryCode>",
                x(territory)
            );
        }
    }
    let _ = writeln!(
        out,
        "          <ValidityPeriod>\n            <StartDate>{}</StartDate>\n            <EndDate>{}</EndDate>\n          </ValidityPeriod>",
        doc.start, doc.end
    );
    for usage in &doc.usages {
        match ddex_use_type(*usage) {
            Some(use_type) => {
                let _ = writeln!(out, "          <UseType>{use_type}</UseType>");
            }
            None => {
                let _ = writeln!(
                    out,
                    "          <UseType Namespace=\"cadenza\" UserDefinedValue=\"{}\">UserDefined</UseType>",
                    usage.as_str()
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "          <IsExclusive>{}</IsExclusive>\n          <IsSublicensable>{}</IsSublicensable>",
        doc.exclusive, doc.sublicensable
    );
    if let Some(currency) = &doc.fees.currency {
        out.push_str("          <PriceInformation>\n");
        for (kind, amount) in fee_list(&doc.fees) {
            let _ = writeln!(
                out,
                "            <Price PriceType=\"{kind}\" CurrencyCode=\"{}\">{}</Price>",
                x(currency),
                x(amount)
            );
        }
        out.push_str("          </PriceInformation>\n");
    }
    out.push_str("        </DealTerms>\n      </Deal>\n    </ResourceDeal>\n  </DealList>\n</GrantDealMessage>\n");
    out
}

fn fee_list(fees: &ExportFees) -> Vec<(&'static str, &str)> {
    [
        ("upfront_fee", &fees.upfront_fee),
        ("minimum_guarantee", &fees.minimum_guarantee),
        ("per_stream_rate", &fees.per_stream_rate),
        ("revenue_share_percent", &fees.revenue_share_percent),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
    .collect()
}

fn date(day: NaiveDate) -> Value {
    json!({"@value": day.to_string(), "@type": "xsd:date"})
}

/// The ODRL 2.2 Agreement (JSON-LD, `application/ld+json`).
pub fn odrl_agreement(doc: &GrantDocument) -> Value {
    let collection = format!("urn:cadenza:grant:{}:recordings", doc.grant_id);
    let mut constraints = vec![
        json!({"leftOperand": "dateTime", "operator": "gteq", "rightOperand": date(doc.start)}),
        json!({"leftOperand": "dateTime", "operator": "lteq", "rightOperand": date(doc.end)}),
    ];
    if !doc.territories.iter().any(|t| t == "worldwide") {
        constraints.insert(
            0,
            json!({"leftOperand": "spatial", "operator": "isAnyOf",
                   "rightOperand": doc.territories}),
        );
    }
    let mut permissions: Vec<Value> = doc
        .usages
        .iter()
        .map(|usage| {
            json!({
                "target": collection,
                "assigner": format!("urn:cadenza:organization:{}", doc.licensor.organization_id),
                "assignee": format!("urn:cadenza:organization:{}", doc.licensee.organization_id),
                "action": [{
                    "rdf:value": {"@id": format!("odrl:{}", odrl_action(*usage))},
                    "refinement": [{"leftOperand": "purpose", "operator": "eq",
                                    "rightOperand": format!("urn:cadenza:usage:{}", usage.as_str())}]
                }],
                "constraint": constraints,
            })
        })
        .collect();
    if doc.sublicensable {
        // Passing the rights on binds the next licensee to a narrowing of this grant.
        permissions.push(json!({
            "target": collection,
            "assigner": format!("urn:cadenza:organization:{}", doc.licensor.organization_id),
            "assignee": format!("urn:cadenza:organization:{}", doc.licensee.organization_id),
            "action": "grantUse",
            "constraint": constraints,
            "duty": [{
                "action": "nextPolicy",
                "target": format!("urn:cadenza:grant:{}:narrowing", doc.grant_id),
            }],
        }));
    }
    let mut obligations = Vec::new();
    if let Some(currency) = &doc.fees.currency {
        for (kind, amount) in fee_list(&doc.fees) {
            let unit = if kind == "revenue_share_percent" {
                "http://qudt.org/vocab/unit/PERCENT".to_string()
            } else {
                format!("urn:iso:std:iso:4217:{currency}")
            };
            obligations.push(json!({
                "assigner": format!("urn:cadenza:organization:{}", doc.licensor.organization_id),
                "assignee": format!("urn:cadenza:organization:{}", doc.licensee.organization_id),
                "action": [{
                    "rdf:value": {"@id": "odrl:compensate"},
                    "refinement": [{"leftOperand": "payAmount", "operator": "eq",
                                    "rightOperand": {"@value": amount, "@type": "xsd:decimal"},
                                    "unit": unit}]
                }],
                "dct:description": kind,
            }));
        }
    }
    let mut agreement = json!({
        "@context": [
            "http://www.w3.org/ns/odrl.jsonld",
            {"dct": "http://purl.org/dc/terms/", "xsd": "http://www.w3.org/2001/XMLSchema#"}
        ],
        "@type": "Agreement",
        "uid": format!("urn:cadenza:grant:{}", doc.grant_id),
        "dct:identifier": doc.terms_hash,
        "assigner": {"@type": "Party", "uid": format!("urn:cadenza:organization:{}", doc.licensor.organization_id),
                     "dct:title": doc.licensor.name},
        "assignee": {"@type": "Party", "uid": format!("urn:cadenza:organization:{}", doc.licensee.organization_id),
                     "dct:title": doc.licensee.name},
        "target": {
            "@type": "AssetCollection",
            "uid": collection,
            "dct:identifier": doc.tracks_hash,
            "dct:hasPart": doc.isrcs.iter().map(|i| format!("urn:isrc:{i}")).collect::<Vec<_>>(),
        },
        "permission": permissions,
    });
    if !obligations.is_empty() {
        agreement["obligation"] = Value::Array(obligations);
    }
    if doc.exclusive {
        agreement["dct:description"] = json!("exclusive grant");
    }
    agreement
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(sublicensable: bool) -> GrantDocument {
        GrantDocument {
            grant_id: "g1".into(),
            deal_id: "d1".into(),
            terms_hash: "t".into(),
            tracks_hash: "h".into(),
            status: "active".into(),
            licensor: ExportParty {
                organization_id: "o1".into(),
                name: "Tencent & Co <Music>".into(),
            },
            licensee: ExportParty {
                organization_id: "o2".into(),
                name: "NetEase".into(),
            },
            territories: vec!["CN".into(), "HK".into()],
            usages: vec![Usage::InteractiveStreaming, Usage::Lyrics],
            start: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
            end: NaiveDate::from_ymd_opt(2029, 12, 31).unwrap(),
            exclusive: false,
            sublicensable,
            fees: ExportFees {
                currency: Some("CNY".into()),
                upfront_fee: Some("1000000.00".into()),
                per_stream_rate: Some("0.0045".into()),
                ..ExportFees::default()
            },
            isrcs: vec!["CNA012400001".into(), "CNA012400002".into()],
        }
    }

    #[test]
    fn the_deal_document_is_well_formed_and_says_the_terms() {
        let xml = ddex_deal(&grant(false));
        // Reads back through the same safe reader the import uses.
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut names = Vec::new();
        loop {
            match reader.read_event().unwrap() {
                quick_xml::events::Event::Start(e) => {
                    names.push(String::from_utf8_lossy(e.name().as_ref()).into_owned())
                }
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(names.iter().filter(|n| *n == "ISRC").count(), 2);
        assert_eq!(names.iter().filter(|n| *n == "TerritoryCode").count(), 2);
        assert!(xml.contains("Tencent &amp; Co &lt;Music&gt;"));
        assert!(xml.contains("<UseType>OnDemandStream</UseType>"));
        assert!(xml.contains(r#"UserDefinedValue="lyrics">UserDefined</UseType>"#));
        assert!(xml.contains("<EndDate>2029-12-31</EndDate>"));
        assert!(
            xml.contains(r#"<Price PriceType="per_stream_rate" CurrencyCode="CNY">0.0045</Price>"#)
        );
    }

    #[test]
    fn the_agreement_constrains_space_and_time_and_binds_the_next_licensee() {
        let plain = odrl_agreement(&grant(false));
        assert_eq!(plain["@type"], "Agreement");
        let permissions = plain["permission"].as_array().unwrap();
        assert_eq!(permissions.len(), 2);
        assert_eq!(permissions[0]["constraint"][0]["leftOperand"], "spatial");
        assert_eq!(
            permissions[0]["constraint"][2]["rightOperand"]["@value"],
            "2029-12-31"
        );
        assert_eq!(plain["obligation"].as_array().unwrap().len(), 2);
        assert_eq!(
            plain["obligation"][0]["action"][0]["rdf:value"]["@id"],
            "odrl:compensate"
        );
        assert!(!plain.to_string().contains("nextPolicy"));
        let onward = odrl_agreement(&grant(true));
        let last = onward["permission"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["action"], "grantUse");
        assert_eq!(last["duty"][0]["action"], "nextPolicy");
    }
}
