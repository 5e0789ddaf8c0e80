//! Diesel table definitions, written to match both `migrations/sqlite` and
//! `migrations/postgres` (the two schemas declare the same columns and types).

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        organization_id -> Text,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        family_id -> Text,
        user_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_throttle (throttle_key) {
        throttle_key -> Text,
        failures -> Integer,
        window_start -> Timestamp,
        blocked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        organization_id -> Text,
        email -> Text,
        role -> Text,
        token_hash -> Text,
        invited_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    password_resets (id) {
        id -> Text,
        user_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        actor_user_id -> Nullable<Text>,
        action -> Text,
        subject_type -> Text,
        subject_id -> Nullable<Text>,
        before_json -> Nullable<Text>,
        after_json -> Nullable<Text>,
        created_at -> Timestamp,
        seq -> Nullable<BigInt>,
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
    }
}

diesel::table! {
    audit_chain_heads (chain) {
        chain -> Text,
        seq -> BigInt,
        hash -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Text,
        message_id -> Text,
        template -> Text,
        recipient_email -> Text,
        recipient_user_id -> Nullable<Text>,
        context_json -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(users -> organizations (organization_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(invitations -> organizations (organization_id));
diesel::joinable!(password_resets -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    users,
    refresh_tokens,
    login_throttle,
    invitations,
    password_resets,
    audit_events,
    mail_outbox,
    notifications,
    notification_settings,
);

diesel::table! {
    catalogs (no) {
        no -> BigInt,
        id -> Text,
        organization_id -> Text,
        name -> Text,
        territories -> Text,
        usages -> Text,
        holding_start -> Date,
        holding_end -> Date,
        sublicensable -> Bool,
        track_count -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        postings_version -> BigInt,
        recordings -> Nullable<Binary>,
        backing_grant_id -> Nullable<Text>,
    }
}

diesel::table! {
    tracks (catalog_no, track_id) {
        catalog_no -> BigInt,
        track_id -> Integer,
        isrc_key -> BigInt,
        title -> Text,
        artists -> Text,
        label -> Text,
        genre -> Text,
        release_date -> Date,
        duration_ms -> Integer,
        iswc -> Nullable<Text>,
    }
}

diesel::table! {
    catalog_postings (catalog_no, kind, posting_key) {
        catalog_no -> BigInt,
        kind -> Text,
        posting_key -> Text,
        display -> Text,
        track_count -> BigInt,
        bitmap -> Binary,
    }
}

diesel::table! {
    slices (id) {
        id -> Text,
        catalog_id -> Text,
        organization_id -> Text,
        name -> Text,
        selector -> Text,
        track_count -> BigInt,
        catalog_track_count -> BigInt,
        bitmap -> Binary,
        content_hash -> Text,
        frozen_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        recordings -> Nullable<Binary>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    catalogs,
    tracks,
    catalog_postings,
    slices
);

// ---- notifications (migration 2026-11-25-000003) ----

diesel::table! {
    notifications (id) {
        id -> Text,
        user_id -> Text,
        organization_id -> Text,
        kind -> Text,
        subject_type -> Text,
        subject_id -> Text,
        title -> Text,
        summary -> Text,
        data_json -> Text,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notification_settings (user_id, kind) {
        user_id -> Text,
        kind -> Text,
        email_enabled -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(notifications -> users (user_id));
diesel::joinable!(notification_settings -> users (user_id));

diesel::table! {
    deals (id) {
        id -> Text,
        name -> Text,
        licensor_org_id -> Text,
        licensee_org_id -> Text,
        opened_by -> Text,
        offer_id -> Nullable<Text>,
        request_id -> Nullable<Text>,
        catalog_id -> Text,
        state -> Text,
        turn -> Nullable<Text>,
        revision -> Integer,
        agreed_revision -> Nullable<Integer>,
        version -> Integer,
        respond_by -> Nullable<Timestamp>,
        expiring_notified -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    deal_revisions (deal_id, number) {
        deal_id -> Text,
        number -> Integer,
        proposed_by -> Text,
        proposer_user_id -> Text,
        terms -> Text,
        terms_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    deal_signatures (id) {
        id -> Text,
        deal_id -> Text,
        revision -> Integer,
        party -> Text,
        user_id -> Text,
        terms_hash -> Text,
        signed_at -> Timestamp,
        voided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    deal_events (id) {
        id -> Text,
        deal_id -> Text,
        kind -> Text,
        party -> Nullable<Text>,
        actor_user_id -> Nullable<Text>,
        revision -> Nullable<Integer>,
        summary -> Text,
        data -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        deal_id -> Text,
        licensor_org_id -> Text,
        licensee_org_id -> Text,
        catalog_id -> Text,
        slice_id -> Text,
        track_count -> BigInt,
        tracks_hash -> Text,
        territories -> Text,
        usages -> Text,
        start_date -> Date,
        end_date -> Date,
        exclusive -> Bool,
        sublicensable -> Bool,
        terms_hash -> Text,
        status -> Text,
        terminated_at -> Nullable<Timestamp>,
        termination_reason -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    installments (id) {
        id -> Text,
        deal_id -> Text,
        grant_id -> Text,
        seq -> Integer,
        due_date -> Date,
        currency -> Text,
        amount_minor -> BigInt,
        paid_minor -> BigInt,
        status -> Text,
        overdue_notified -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    payments (id) {
        id -> Text,
        installment_id -> Text,
        amount_minor -> BigInt,
        paid_on -> Date,
        reference -> Text,
        recorded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (user_id, idem_key) {
        user_id -> Text,
        idem_key -> Text,
        fingerprint -> Text,
        status_code -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
        response_etag -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    deals,
    deal_revisions,
    deal_signatures,
    deal_events,
    grants,
    installments,
    payments,
    organizations,
);

// ---- marketplace (migration 2026-11-25-000004) ----

diesel::table! {
    offers (id) {
        id -> Text,
        organization_id -> Text,
        slice_id -> Text,
        catalog_id -> Text,
        catalog_no -> BigInt,
        title -> Text,
        terms -> Text,
        territories -> Text,
        usages -> Text,
        exclusive -> Bool,
        currency -> Text,
        asking_minor -> BigInt,
        track_count -> BigInt,
        sample_track_ids -> Text,
        start_date -> Date,
        end_date -> Date,
        visibility -> Text,
        status -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    offer_targets (offer_id, organization_id) {
        offer_id -> Text,
        organization_id -> Text,
    }
}

diesel::table! {
    offer_facets (offer_id, kind, posting_key) {
        offer_id -> Text,
        kind -> Text,
        posting_key -> Text,
        display -> Text,
        track_count -> BigInt,
    }
}

diesel::table! {
    requests (id) {
        id -> Text,
        organization_id -> Text,
        title -> Text,
        selector -> Nullable<Text>,
        isrcs -> Nullable<Text>,
        isrc_count -> BigInt,
        territories -> Text,
        usages -> Text,
        start_date -> Date,
        end_date -> Date,
        budget_minor -> Nullable<BigInt>,
        currency -> Text,
        visibility -> Text,
        status -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    request_targets (request_id, organization_id) {
        request_id -> Text,
        organization_id -> Text,
    }
}

diesel::joinable!(offers -> organizations (organization_id));
diesel::joinable!(offer_targets -> offers (offer_id));
diesel::joinable!(offer_facets -> offers (offer_id));
diesel::joinable!(requests -> organizations (organization_id));
diesel::joinable!(request_targets -> requests (request_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    offers,
    offer_targets,
    offer_facets,
    requests,
    request_targets,
);

diesel::table! {
    deal_watchers (deal_id, user_id) {
        deal_id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    holding_versions (id) {
        id -> Text,
        catalog_id -> Text,
        scope -> Text,
        scope_key -> Text,
        display -> Text,
        version -> Integer,
        territories -> Text,
        usages -> Text,
        start_date -> Date,
        end_date -> Date,
        sublicensable -> Bool,
        removed -> Bool,
        changed_by -> Nullable<Text>,
        changed_at -> Timestamp,
        superseded_at -> Nullable<Timestamp>,
        recordings -> Nullable<Binary>,
    }
}

diesel::table! {
    backing_losses (id) {
        id -> Text,
        grant_id -> Text,
        cause -> Text,
        upstream_grant_id -> Nullable<Text>,
        catalog_id -> Text,
        track_count -> BigInt,
        sample_isrcs -> Text,
        recordings -> Binary,
        lost_from -> Date,
        detail -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    usage_reports (id) {
        id -> Text,
        grant_id -> Text,
        period_start -> Date,
        period_end -> Date,
        version -> Integer,
        lines -> Text,
        isrc_rows -> BigInt,
        uploaded_by -> Text,
        created_at -> Timestamp,
        superseded_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    royalty_statements (id) {
        id -> Text,
        grant_id -> Text,
        report_id -> Text,
        period_start -> Date,
        period_end -> Date,
        currency -> Text,
        lines -> Text,
        earned_minor -> BigInt,
        guarantee_top_up_minor -> BigInt,
        recouped_minor -> BigInt,
        unrecouped_minor -> BigInt,
        payable_minor -> BigInt,
        recouped_to_date_minor -> BigInt,
        owed_to_date_minor -> BigInt,
        due_date -> Date,
        created_at -> Timestamp,
        superseded_at -> Nullable<Timestamp>,
        status -> Text,
        disputed_reason -> Nullable<Text>,
        disputed_by -> Nullable<Text>,
        disputed_at -> Nullable<Timestamp>,
        confirmed_by -> Nullable<Text>,
        confirmed_at -> Nullable<Timestamp>,
        paid_minor -> BigInt,
        overdue_notified -> Bool,
    }
}

diesel::table! {
    statement_payments (id) {
        id -> Text,
        statement_id -> Text,
        amount_minor -> BigInt,
        paid_on -> Date,
        reference -> Text,
        recorded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        organization_id -> Text,
        url -> Text,
        description -> Text,
        event_types -> Text,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        consecutive_failures -> Integer,
        failing_since -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        endpoint_id -> Text,
        event_id -> Text,
        event_type -> Text,
        subject_type -> Text,
        subject_id -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        last_status_code -> Nullable<Integer>,
        last_latency_ms -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        last_attempt_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::allow_tables_to_appear_in_same_query!(webhook_endpoints, webhook_deliveries);

// A grant's tracks and recordings are its frozen slice's (migration 2026-12-01-000020).
diesel::allow_tables_to_appear_in_same_query!(grants, slices);

diesel::table! {
    market_version (id) {
        id -> Integer,
        version -> BigInt,
    }
}

diesel::table! {
    ern_releases (catalog_id, release_key) {
        catalog_id -> Text,
        release_key -> Text,
        isrcs -> Text,
        message_id -> Text,
        delivered_at -> Timestamp,
        taken_down_on -> Nullable<Date>,
    }
}
