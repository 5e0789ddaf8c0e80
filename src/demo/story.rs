//! The demo market's story, told through the public API: teams sign up and invite
//! colleagues, catalogs are imported and sliced, offers and requests published, and
//! ten deals negotiated into every state a deal can be in.

use std::path::Path;
use std::time::Instant;

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use super::cast::{self, Member, Organization};
use super::client::{str_field, ApiClient, Session, Transition};
use super::{DemoError, DemoOptions};
use crate::db::{accounts, outbox, Db};
use crate::import::generate::{generate_catalog_in, DeliveryOrder};
use crate::import::ImportFormat;

/// The deal whose completion ends the story: seeing it completed means a previous run
/// finished.
pub const LAST_DEAL: &str = "Aurora → Borealis — Nordic streaming 2025";

/// Top labels of the generated catalog: about a tenth of its tracks ("1.5M of 15M").
pub const TOP_LABELS: [&str; 4] = ["Label 0001", "Label 0002", "Label 0003", "Label 0004"];

/// What the story produced, for the summary `cadenza demo` prints.
#[derive(Debug, Default)]
pub struct Market {
    pub catalogs: Vec<(String, String, u64)>,
    pub slices: Vec<(String, String, u64, u64)>,
    pub offers: Vec<(String, String, String)>,
    pub requests: Vec<(String, String)>,
    /// Name, licensor, licensee, final state, and a note (e.g. why a signature was refused).
    pub deals: Vec<DealSummary>,
}

#[derive(Debug, Clone)]
pub struct DealSummary {
    pub name: String,
    pub licensor: String,
    pub licensee: String,
    pub state: String,
    pub note: String,
}

/// Every team's logged-in members, by e-mail.
struct Teams {
    sessions: Vec<(&'static str, Session)>,
}

impl Teams {
    fn of(&self, member: &Member) -> Result<&Session, DemoError> {
        self.sessions
            .iter()
            .find(|(email, _)| *email == member.email)
            .map(|(_, s)| s)
            .ok_or_else(|| DemoError::Shape(format!("{} has no session", member.email)))
    }

    fn token(&self, member: &Member) -> Result<&str, DemoError> {
        Ok(self.of(member)?.token.as_str())
    }
}

pub(super) struct Story<'a> {
    pub api: &'a ApiClient,
    pub db: &'a Db,
    pub options: &'a DemoOptions,
    pub scratch: &'a Path,
    pub progress: &'a dyn Fn(&str),
}

fn member(org: &Organization, role: &str) -> &'static Member {
    // The cast constants always hold the role asked for; fall back to the owner.
    org.members
        .iter()
        .find(|m| m.role == role)
        .unwrap_or(org.owner())
}

/// A term sheet with every optional field absent; deals fill in their fees.
fn terms(slice: &str, territories: &[&str], usages: &[&str], period: (&str, &str)) -> Value {
    json!({
        "slice_id": slice,
        "territories": territories,
        "usages": usages,
        "start_date": period.0,
        "end_date": period.1,
        "exclusive": false,
        "sublicensable": false,
        "currency": "EUR",
        "upfront_fee": null,
        "minimum_guarantee": null,
        "per_stream_rate": null,
        "revenue_share_percent": null,
        "installments": [],
        "clauses": null,
        "respond_by": null,
    })
}

/// An upfront fee paid in equal installments on the given dates.
fn upfront(terms: &mut Value, fee: &str, installments: &[(&str, &str)]) {
    terms["upfront_fee"] = json!(fee);
    terms["installments"] = installments
        .iter()
        .map(|(due, amount)| json!({"due_date": due, "amount": amount}))
        .collect();
}

fn rfc3339(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Story<'_> {
    pub async fn tell(&self) -> Result<Market, DemoError> {
        let mut market = Market::default();
        let teams = self.sign_up_teams().await?;
        let (aurora, borealis, cobalt, dune) =
            (&cast::AURORA, &cast::BOREALIS, &cast::COBALT, &cast::DUNE);
        let marco = teams.token(member(aurora, "negotiator"))?;
        let priya = teams.token(member(aurora, "signer"))?;
        let kenji = teams.token(member(borealis, "negotiator"))?;
        let sofia = teams.token(member(borealis, "signer"))?;
        let amara = teams.token(cobalt.owner())?;
        let elena = teams.token(member(dune, "negotiator"))?;
        let aurora_id = teams.of(aurora.owner())?.organization_id.clone();
        let borealis_id = teams.of(borealis.owner())?.organization_id.clone();
        let cobalt_id = teams.of(cobalt.owner())?.organization_id.clone();

        // Catalogs: Aurora's big one, Dune's small one.
        let aurora_catalog = self
            .catalog(
                marco,
                &json!({"name": "Aurora Global Catalog", "territories": ["worldwide"],
                    "usages": ["interactive_streaming", "non_interactive_streaming", "download", "lyrics"],
                    "holding_start": "2020-01-01", "holding_end": "2045-12-31", "sublicensable": true}),
                self.options.tracks,
                self.options.seed,
                None,
                &mut market,
            )
            .await?;
        let dune_tracks = (self.options.tracks / 30).max(500);
        let dune_catalog = self
            .catalog(
                elena,
                &json!({"name": "Dune Records Masters", "territories": ["worldwide"],
                    "usages": ["interactive_streaming", "non_interactive_streaming", "download"],
                    "holding_start": "2018-01-01", "holding_end": "2040-12-31", "sublicensable": true}),
                dune_tracks,
                self.options.seed.wrapping_add(6),
                Some("DN"),
                &mut market,
            )
            .await?;

        // Slices.
        let top = self
            .slice(
                marco,
                &aurora_catalog,
                "Top four labels",
                json!({"labels": TOP_LABELS}),
                &mut market,
            )
            .await?;
        let jazz = self
            .slice(
                marco,
                &aurora_catalog,
                "Jazz and classical",
                json!({"genres": ["Jazz", "Classical"]}),
                &mut market,
            )
            .await?;
        let latin = self
            .slice(
                marco,
                &aurora_catalog,
                "Latin",
                json!({"genres": ["Latin"]}),
                &mut market,
            )
            .await?;
        let whole = self
            .slice(
                marco,
                &aurora_catalog,
                "Whole catalog",
                json!({}),
                &mut market,
            )
            .await?;
        let masters = self
            .slice(elena, &dune_catalog, "Dune masters", json!({}), &mut market)
            .await?;

        // Offers.
        let eu_exclusive = {
            let mut t = terms(
                &top,
                &["AT", "BE", "DE", "ES", "FR", "IT", "NL"],
                &["interactive_streaming"],
                ("2027-01-01", "2029-12-31"),
            );
            t["exclusive"] = json!(true);
            upfront(
                &mut t,
                "4500000.00",
                &[
                    ("2027-01-15", "1500000.00"),
                    ("2028-01-15", "1500000.00"),
                    ("2029-01-15", "1500000.00"),
                ],
            );
            t
        };
        let eu_offer = self
            .offer(
                marco,
                aurora.name,
                "Top four labels — EU streaming, exclusive 2027–2029",
                &top,
                &eu_exclusive,
                true,
                &mut market,
            )
            .await?;
        let radio_terms = {
            let mut t = terms(
                &jazz,
                &["worldwide"],
                &["non_interactive_streaming"],
                ("2027-01-01", "2027-12-31"),
            );
            t["currency"] = json!("USD");
            t["revenue_share_percent"] = json!("12");
            t["minimum_guarantee"] = json!("50000.00");
            t["installments"] = json!([{"due_date": "2027-01-31", "amount": "50000.00"}]);
            t
        };
        let radio_offer = self
            .offer(
                marco,
                aurora.name,
                "Jazz and classical for radio, worldwide 2027",
                &jazz,
                &radio_terms,
                true,
                &mut market,
            )
            .await?;
        let dune_terms = {
            let mut t = terms(
                &masters,
                &["worldwide"],
                &["download", "interactive_streaming"],
                ("2027-01-01", "2028-12-31"),
            );
            t["per_stream_rate"] = json!("0.004");
            t
        };
        let dune_offer = self
            .offer(
                elena,
                dune.name,
                "Dune masters — streaming and downloads",
                &masters,
                &dune_terms,
                true,
                &mut market,
            )
            .await?;
        let latam = {
            let mut t = terms(
                &whole,
                &["AR", "CL", "CO", "MX"],
                &["interactive_streaming"],
                ("2027-01-01", "2028-12-31"),
            );
            t["currency"] = json!("USD");
            t["revenue_share_percent"] = json!("15");
            t
        };
        self.offer(
            marco,
            aurora.name,
            "Whole catalog — Latin America (draft)",
            &whole,
            &latam,
            false,
            &mut market,
        )
        .await?;

        // Requests.
        let jazz_request = self
            .request(amara, cobalt.name, &json!({"title": "Jazz for our Dutch and Belgian radio",
                "selector": {"genres": ["Jazz"]}, "territories": ["BE", "NL"], "usages": ["non_interactive_streaming"],
                "start_date": "2027-01-01", "end_date": "2027-12-31", "budget": "20000.00", "currency": "EUR",
                "visibility": "public", "expires_at": rfc3339(Utc::now() + chrono::Duration::days(60))}), &mut market)
            .await?;
        let latin_request = self
            .request(kenji, borealis.name, &json!({"title": "Latin catalogue for Mexico and Brazil",
                "selector": {"genres": ["Latin"]}, "territories": ["BR", "MX"], "usages": ["interactive_streaming"],
                "start_date": "2027-01-01", "end_date": "2028-12-31", "budget": "800000.00", "currency": "USD",
                "visibility": [aurora_id], "expires_at": rfc3339(Utc::now() + chrono::Duration::days(45))}), &mut market)
            .await?;

        let mut deals = Deals {
            api: self.api,
            progress: self.progress,
            summaries: Vec::new(),
        };

        // 1. Executed after two counters, with its grant and a first payment.
        let name = "Borealis × Aurora — EU streaming 2027–2029";
        let deal = deals
            .open(kenji, &json!({"offer_id": eu_offer, "name": name}))
            .await?;
        let deal = deals.act(kenji, &deal, "submit", json!({})).await?;
        let mut t = eu_exclusive.clone();
        upfront(
            &mut t,
            "5100000.00",
            &[
                ("2027-01-15", "1700000.00"),
                ("2028-01-15", "1700000.00"),
                ("2029-01-15", "1700000.00"),
            ],
        );
        let deal = deals
            .act(marco, &deal, "counter", json!({"terms": t}))
            .await?;
        upfront(
            &mut t,
            "4800000.00",
            &[
                ("2027-01-15", "1600000.00"),
                ("2028-01-15", "1600000.00"),
                ("2029-01-15", "1600000.00"),
            ],
        );
        let deal = deals
            .act(kenji, &deal, "counter", json!({"terms": t}))
            .await?;
        let deal = deals.act(marco, &deal, "accept", json!({})).await?;
        let deal = deals.sign_both(sofia, priya, &deal).await?;
        let paid = self
            .pay_first_installment(marco, &deal, "1600000.00", "BRL-2026-0001")
            .await?;
        deals.record(
            &deal,
            aurora.name,
            borealis.name,
            format!(
                "grant of {} tracks; {paid}",
                self.grant_tracks(kenji, &deal).await?
            ),
        );

        // 2. Refused at signature: Cobalt wants the same exclusive rights Borealis now holds.
        let name = "Cobalt × Aurora — EU streaming 2027–2029";
        let deal = deals
            .open(amara, &json!({"offer_id": eu_offer, "name": name}))
            .await?;
        let deal = deals.act(amara, &deal, "submit", json!({})).await?;
        let deal = deals.act(marco, &deal, "accept", json!({})).await?;
        let hash = str_field(&deal, "terms_hash")?.to_string();
        let deal = deals
            .act(amara, &deal, "sign", json!({"terms_hash": hash}))
            .await?;
        let note = match self
            .api
            .transition(priya, &deal, "sign", &json!({"terms_hash": hash}))
            .await?
        {
            Transition::Refused {
                status: 409,
                problem,
            } => format!(
                "Aurora's signature refused: {}",
                problem
                    .get("detail")
                    .and_then(Value::as_str)
                    .unwrap_or("conflicts with an exclusive grant")
            ),
            Transition::Refused { status, problem } => {
                return Err(DemoError::Unexpected {
                    request: "sign (expected a conflict)".into(),
                    status,
                    body: problem.to_string(),
                })
            }
            Transition::Done(_) => {
                return Err(DemoError::Shape(
                    "a deal overlapping an exclusive grant was executed".into(),
                ))
            }
        };
        let deal = self
            .api
            .get(&format!("/api/v1/deals/{}", str_field(&deal, "id")?), marco)
            .await?;
        deals.record(&deal, aurora.name, cobalt.name, note);

        // 3. Still negotiating after three counters; Borealis's turn.
        let name = "Borealis × Aurora — jazz and classical radio 2027";
        let deal = deals
            .open(kenji, &json!({"offer_id": radio_offer, "name": name}))
            .await?;
        let deal = deals.act(kenji, &deal, "submit", json!({})).await?;
        let mut t = radio_terms.clone();
        t["revenue_share_percent"] = json!("14");
        let deal = deals
            .act(marco, &deal, "counter", json!({"terms": t}))
            .await?;
        t["revenue_share_percent"] = json!("13");
        let deal = deals
            .act(kenji, &deal, "counter", json!({"terms": t}))
            .await?;
        t["revenue_share_percent"] = json!("13.5");
        t["minimum_guarantee"] = json!("60000.00");
        t["installments"] = json!([{"due_date": "2027-01-31", "amount": "60000.00"}]);
        t["respond_by"] = json!(rfc3339(Utc::now() + chrono::Duration::days(30)));
        let deal = deals
            .act(marco, &deal, "counter", json!({"terms": t}))
            .await?;
        deals.record(
            &deal,
            aurora.name,
            borealis.name,
            "revision 4 waits for Borealis".into(),
        );

        // 4. Agreed, awaiting both signatures.
        let name = "Cobalt × Dune — masters 2027–2028";
        let deal = deals
            .open(amara, &json!({"offer_id": dune_offer, "name": name}))
            .await?;
        let deal = deals.act(amara, &deal, "submit", json!({})).await?;
        let deal = deals.act(elena, &deal, "accept", json!({})).await?;
        deals.record(&deal, dune.name, cobalt.name, "awaiting signatures".into());

        // 5. A draft only Borealis can see.
        let name = "Borealis × Dune — masters (draft)";
        let deal = deals
            .open(kenji, &json!({"offer_id": dune_offer, "name": name}))
            .await?;
        deals.record(
            &deal,
            dune.name,
            borealis.name,
            "not yet sent to Dune".into(),
        );

        // 6. Rejected: a direct proposal below Aurora's floor.
        let name = "Cobalt × Aurora — jazz radio at 3 %";
        let mut t = terms(
            &jazz,
            &["worldwide"],
            &["non_interactive_streaming"],
            ("2027-01-01", "2027-12-31"),
        );
        t["revenue_share_percent"] = json!("3");
        let deal = deals
            .open(amara, &json!({"counterparty_id": aurora_id, "role": "licensee", "name": name, "terms": t}))
            .await?;
        let deal = deals.act(amara, &deal, "submit", json!({})).await?;
        let deal = deals
            .act(
                marco,
                &deal,
                "reject",
                json!({"reason": "Below our 10 % floor for radio."}),
            )
            .await?;
        deals.record(&deal, aurora.name, cobalt.name, "rejected by Aurora".into());

        // 7. Withdrawn: Dune answers Cobalt's request, Cobalt walks away.
        let name = "Dune → Cobalt — jazz for Dutch and Belgian radio";
        let mut t = terms(
            &masters,
            &["BE", "NL"],
            &["non_interactive_streaming"],
            ("2027-01-01", "2027-12-31"),
        );
        upfront(&mut t, "15000.00", &[("2027-01-15", "15000.00")]);
        let deal = deals
            .open(
                elena,
                &json!({"request_id": jazz_request, "name": name, "terms": t}),
            )
            .await?;
        let deal = deals.act(elena, &deal, "submit", json!({})).await?;
        let deal = deals
            .act(
                amara,
                &deal,
                "withdraw",
                json!({"reason": "Our radio budget moved to 2028."}),
            )
            .await?;
        deals.record(&deal, dune.name, cobalt.name, "withdrawn by Cobalt".into());

        // 8. Expires: Aurora answers Borealis's request with a short deadline nobody meets.
        let name = "Aurora → Borealis — Latin for Mexico and Brazil";
        let mut t = terms(
            &latin,
            &["BR", "MX"],
            &["interactive_streaming"],
            ("2027-01-01", "2028-12-31"),
        );
        t["currency"] = json!("USD");
        upfront(
            &mut t,
            "750000.00",
            &[("2027-01-15", "375000.00"), ("2028-01-15", "375000.00")],
        );
        let respond_by = Utc::now() + chrono::Duration::seconds(2);
        t["respond_by"] = json!(rfc3339(respond_by));
        let expiring = deals
            .open(
                marco,
                &json!({"request_id": latin_request, "name": name, "terms": t}),
            )
            .await?;
        let expiring = deals.act(marco, &expiring, "submit", json!({})).await?;

        // 9. Executed, then terminated early by the licensee.
        let name = "Aurora → Cobalt — jazz for Dutch and Belgian radio";
        let mut t = terms(
            &jazz,
            &["BE", "NL"],
            &["non_interactive_streaming"],
            ("2027-01-01", "2027-12-31"),
        );
        upfront(&mut t, "18000.00", &[("2027-01-15", "18000.00")]);
        let deal = deals
            .open(marco, &json!({"counterparty_id": cobalt_id, "role": "licensor", "name": name, "terms": t}))
            .await?;
        let deal = deals.act(marco, &deal, "submit", json!({})).await?;
        let deal = deals.act(amara, &deal, "accept", json!({})).await?;
        let deal = deals.sign_both(amara, priya, &deal).await?;
        let deal = deals
            .act(amara, &deal, "terminate", json!({"reason": "The Dutch stream closes at mid-year.", "effective_date": "2027-07-01"}))
            .await?;
        deals.record(
            &deal,
            aurora.name,
            cobalt.name,
            "terminated from 2027-07-01".into(),
        );

        // 10. Executed for a term already over, paid in full; the sweeper completes it.
        let mut t = terms(
            &top,
            &["DK", "FI", "NO", "SE"],
            &["interactive_streaming"],
            ("2025-01-01", "2025-12-31"),
        );
        upfront(&mut t, "250000.00", &[("2025-01-15", "250000.00")]);
        let completed = deals
            .open(marco, &json!({"counterparty_id": borealis_id, "role": "licensor", "name": LAST_DEAL, "terms": t}))
            .await?;
        let completed = deals.act(marco, &completed, "submit", json!({})).await?;
        let completed = deals.act(kenji, &completed, "accept", json!({})).await?;
        let completed = deals.sign_both(sofia, priya, &completed).await?;
        self.pay_first_installment(marco, &completed, "250000.00", "BRL-2025-0117")
            .await?;

        // Time does the rest: the deadline of deal 8 passes, the term of deal 10 is over.
        let wait = respond_by - Utc::now() + chrono::Duration::milliseconds(1100);
        if let Ok(wait) = wait.to_std() {
            tokio::time::sleep(wait).await;
        }
        (self.progress)("sweeping: deadlines passed, terms ended");
        crate::sweeper::sweep_once(self.db).await?;
        for (deal, licensor, licensee, note) in [
            (
                &expiring,
                aurora.name,
                borealis.name,
                "nobody answered by the deadline",
            ),
            (
                &completed,
                aurora.name,
                borealis.name,
                "term over, paid in full",
            ),
        ] {
            let now = self
                .api
                .get(&format!("/api/v1/deals/{}", str_field(deal, "id")?), marco)
                .await?;
            deals.record(&now, licensor, licensee, note.into());
        }

        market.deals = deals.summaries;
        Ok(market)
    }

    /// Registers the four organizations and brings every team member in by invitation.
    async fn sign_up_teams(&self) -> Result<Teams, DemoError> {
        let mut teams = Teams {
            sessions: Vec::new(),
        };
        for org in cast::ORGANIZATIONS {
            let owner = org.owner();
            let session = self
                .api
                .register(&json!({
                    "organization": {"name": org.name, "kind": org.kind},
                    "user": {"email": owner.email, "password": owner.password, "name": owner.name}
                }))
                .await?;
            (self.progress)(&format!("{} signed up ({}, owner)", org.name, owner.email));
            for colleague in &org.members[1..] {
                self.api
                    .create(
                        "/api/v1/invitations",
                        &session.token,
                        &json!({"email": colleague.email, "role": colleague.role}),
                    )
                    .await?;
                let token = self.invitation_token(colleague.email).await?;
                let joined = self
                    .api
                    .accept_invitation(&json!({"token": token, "name": colleague.name, "password": colleague.password}))
                    .await?;
                (self.progress)(&format!(
                    "  {} joined as {}",
                    colleague.email, colleague.role
                ));
                teams.sessions.push((colleague.email, joined));
            }
            teams.sessions.push((owner.email, session));
        }
        Ok(teams)
    }

    /// The invitation token, read from the queued invitation mail as the invitee would.
    async fn invitation_token(&self, email: &'static str) -> Result<String, DemoError> {
        let context = self
            .db
            .run(move |conn| outbox::latest_context(conn, email, "invitation"))
            .await?
            .ok_or_else(|| DemoError::Shape(format!("no invitation mail to {email}")))?;
        Ok(str_field(&context, "token")?.to_string())
    }

    #[allow(clippy::too_many_arguments)]
    async fn catalog(
        &self,
        token: &str,
        body: &Value,
        tracks: u64,
        seed: u64,
        registrant: Option<&str>,
        market: &mut Market,
    ) -> Result<String, DemoError> {
        let catalog = self.api.create("/api/v1/catalogs", token, body).await?;
        let id = str_field(&catalog, "id")?.to_string();
        let name = str_field(&catalog, "name")?.to_string();
        let file = self.scratch.join(format!("demo-catalog-{id}.csv"));
        let started = Instant::now();
        write_catalog_file(&file, tracks, seed, registrant)?;
        (self.progress)(&format!(
            "{name}: generated {tracks} tracks in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        let started = Instant::now();
        let report = self.api.import_csv(token, &id, &file).await;
        let _ = std::fs::remove_file(&file);
        let report = report?;
        let imported = report.get("imported").and_then(Value::as_u64).unwrap_or(0);
        (self.progress)(&format!(
            "{name}: imported {imported} tracks in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        let catalog = self
            .api
            .get(&format!("/api/v1/catalogs/{id}"), token)
            .await?;
        let count = catalog
            .get("track_count")
            .and_then(Value::as_u64)
            .unwrap_or(imported);
        market.catalogs.push((name, id.clone(), count));
        Ok(id)
    }

    async fn slice(
        &self,
        token: &str,
        catalog: &str,
        name: &str,
        selector: Value,
        market: &mut Market,
    ) -> Result<String, DemoError> {
        let slice = self
            .api
            .create(
                &format!("/api/v1/catalogs/{catalog}/slices"),
                token,
                &json!({"name": name, "selector": selector}),
            )
            .await?;
        let count = slice
            .get("track_count")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let of = slice
            .get("catalog_track_count")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        (self.progress)(&format!("slice “{name}”: {count} of {of} tracks"));
        market.slices.push((
            name.to_string(),
            str_field(&slice, "id")?.to_string(),
            count,
            of,
        ));
        Ok(str_field(&slice, "id")?.to_string())
    }

    #[allow(clippy::too_many_arguments)]
    async fn offer(
        &self,
        token: &str,
        organization: &str,
        title: &str,
        slice: &str,
        terms: &Value,
        publish: bool,
        market: &mut Market,
    ) -> Result<String, DemoError> {
        let offer = self
            .api
            .create(
                "/api/v1/offers",
                token,
                &json!({"title": title, "slice_id": slice, "terms": terms, "visibility": "public",
                    "expires_at": rfc3339(Utc::now() + chrono::Duration::days(90)), "publish": publish}),
            )
            .await?;
        let status = str_field(&offer, "status")?.to_string();
        (self.progress)(&format!("offer “{title}” ({status})"));
        market
            .offers
            .push((title.to_string(), organization.to_string(), status));
        Ok(str_field(&offer, "id")?.to_string())
    }

    async fn request(
        &self,
        token: &str,
        organization: &str,
        body: &Value,
        market: &mut Market,
    ) -> Result<String, DemoError> {
        let request = self.api.create("/api/v1/requests", token, body).await?;
        let title = str_field(&request, "title")?.to_string();
        (self.progress)(&format!("request “{title}”"));
        market.requests.push((title, organization.to_string()));
        Ok(str_field(&request, "id")?.to_string())
    }

    /// The licensor records the payment of the deal's first installment, today.
    async fn pay_first_installment(
        &self,
        token: &str,
        deal: &Value,
        amount: &str,
        reference: &str,
    ) -> Result<String, DemoError> {
        let id = str_field(deal, "id")?;
        let schedule = self
            .api
            .get(&format!("/api/v1/deals/{id}/installments"), token)
            .await?;
        let first = schedule
            .get("installments")
            .and_then(Value::as_array)
            .and_then(|all| all.first())
            .ok_or_else(|| DemoError::Shape(format!("no installments in {schedule}")))?;
        let installment = str_field(first, "id")?;
        self.api
            .create(
                &format!("/api/v1/installments/{installment}/payments"),
                token,
                &json!({"amount": amount, "paid_on": Utc::now().date_naive(), "reference": reference}),
            )
            .await?;
        Ok(format!(
            "{amount} paid of {} installments",
            schedule["installments"].as_array().map_or(0, Vec::len)
        ))
    }

    /// How many tracks the deal's grant covers, as the licensee sees it.
    async fn grant_tracks(&self, token: &str, deal: &Value) -> Result<u64, DemoError> {
        let id = str_field(deal, "id")?;
        let grants = self.api.get("/api/v1/grants?limit=500", token).await?;
        Ok(grants
            .get("items")
            .and_then(Value::as_array)
            .and_then(|all| {
                all.iter()
                    .find(|g| g.get("deal_id").and_then(Value::as_str) == Some(id))
            })
            .and_then(|g| g.get("track_count"))
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }
}

/// Deal steps with progress lines, and the summary of where each deal ended.
struct Deals<'a> {
    api: &'a ApiClient,
    progress: &'a dyn Fn(&str),
    summaries: Vec<DealSummary>,
}

impl Deals<'_> {
    async fn open(&self, token: &str, body: &Value) -> Result<Value, DemoError> {
        let deal = self.api.create("/api/v1/deals", token, body).await?;
        (self.progress)(&format!("deal “{}” opened", str_field(&deal, "name")?));
        Ok(deal)
    }

    async fn act(
        &self,
        token: &str,
        deal: &Value,
        action: &str,
        body: Value,
    ) -> Result<Value, DemoError> {
        let deal = self.api.act(token, deal, action, &body).await?;
        (self.progress)(&format!("  {action} → {}", str_field(&deal, "state")?));
        Ok(deal)
    }

    /// The licensee's signer signs first, then the licensor's.
    async fn sign_both(
        &self,
        licensee: &str,
        licensor: &str,
        deal: &Value,
    ) -> Result<Value, DemoError> {
        let hash = json!({"terms_hash": str_field(deal, "terms_hash")?});
        let deal = self.act(licensee, deal, "sign", hash.clone()).await?;
        self.act(licensor, &deal, "sign", hash).await
    }

    fn record(&mut self, deal: &Value, licensor: &str, licensee: &str, note: String) {
        self.summaries.push(DealSummary {
            name: deal
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            licensor: licensor.to_string(),
            licensee: licensee.to_string(),
            state: deal
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            note,
        });
    }
}

/// Catalog exports come label by label, release by release (dense ids then cluster by
/// label, which keeps label slices small; see docs/performance.md).
const ORDER: DeliveryOrder = DeliveryOrder::LabelByLabel;

/// Writes a generated catalog as CSV. `registrant` replaces the first two characters
/// of each ISRC's registrant code so two demo catalogs never share a recording.
fn write_catalog_file(
    path: &Path,
    tracks: u64,
    seed: u64,
    registrant: Option<&str>,
) -> Result<(), DemoError> {
    let file = std::fs::File::create(path)?;
    let mut out = std::io::BufWriter::new(file);
    match registrant {
        None => generate_catalog_in(&mut out, tracks, seed, ImportFormat::Csv, ORDER)?,
        Some(code) => {
            let mut raw = Vec::new();
            generate_catalog_in(&mut raw, tracks, seed, ImportFormat::Csv, ORDER)?;
            let text = String::from_utf8_lossy(&raw);
            let mut lines = text.lines();
            if let Some(header) = lines.next() {
                writeln_io(&mut out, header)?;
            }
            for line in lines {
                // ISRC: CC RRR YY NNNNN; the row starts with it.
                let rebranded = match (line.get(..2), line.get(4..)) {
                    (Some(country), Some(rest)) => format!("{country}{code}{rest}"),
                    _ => line.to_string(),
                };
                writeln_io(&mut out, &rebranded)?;
            }
        }
    }
    std::io::Write::flush(&mut out)?;
    Ok(())
}

fn writeln_io(out: &mut impl std::io::Write, line: &str) -> std::io::Result<()> {
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")
}

/// Whether the demo already ran to its end in this database: the last deal of the
/// story is completed.
pub async fn finished_before(api: &ApiClient, token: &str) -> Result<bool, DemoError> {
    let deals = api
        .get("/api/v1/deals?state=completed&limit=100", token)
        .await?;
    Ok(deals
        .get("items")
        .and_then(Value::as_array)
        .is_some_and(|items| {
            items
                .iter()
                .any(|d| d.get("name").and_then(Value::as_str) == Some(LAST_DEAL))
        }))
}

/// How many organizations the database holds.
pub async fn organizations(db: &Db) -> Result<i64, DemoError> {
    Ok(db.run(accounts::count_organizations).await?)
}
