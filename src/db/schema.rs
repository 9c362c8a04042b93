// @generated automatically by Diesel CLI.

diesel::table! {
    auth_sessions (id) {
        id -> Uuid,
        user_id -> Int8,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoked_reason -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    auth_throttles (key) {
        key -> Text,
        failures -> Int4,
        window_started_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    blocks (blocker_id, blocked_id) {
        blocker_id -> Int8,
        blocked_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    chat_members (user_id, chat_id) {
        user_id -> Int8,
        chat_id -> Text,
        peer_id -> Int8,
        last_read_id -> Int8,
    }
}

diesel::table! {
    chat_messages (id) {
        id -> Int8,
        chat_id -> Text,
        sender_id -> Int8,
        body -> Text,
        client_msg_id -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    chats (id) {
        id -> Text,
        user_low -> Int8,
        user_high -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    friend_requests (id) {
        id -> Int8,
        sender_id -> Int8,
        addressee_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    friendships (user_a, user_b) {
        user_a -> Int8,
        user_b -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    login_challenges (token_hash) {
        token_hash -> Bytea,
        user_id -> Int8,
        expires_at -> Timestamptz,
        attempts -> Int4,
    }
}

diesel::table! {
    matches (id) {
        id -> Int8,
        player_left -> Int8,
        player_right -> Int8,
        points_to_win -> Int4,
        status -> Text,
        score_left -> Int4,
        score_right -> Int4,
        winner_id -> Nullable<Int8>,
        reason -> Nullable<Text>,
        rating_change_left -> Nullable<Int4>,
        rating_change_right -> Nullable<Int4>,
        tournament_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    notifications (id) {
        id -> Int8,
        user_id -> Int8,
        kind -> Text,
        actor_id -> Nullable<Int8>,
        payload -> Jsonb,
        created_at -> Timestamptz,
        read_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    oauth_accounts (provider, provider_user_id) {
        provider -> Text,
        provider_user_id -> Text,
        user_id -> Int8,
        provider_login -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    oauth_states (state_hash) {
        state_hash -> Bytea,
        pkce_verifier -> Text,
        link_user_id -> Nullable<Int8>,
        link_session_id -> Nullable<Uuid>,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    player_stats (user_id) {
        user_id -> Int8,
        rating -> Int4,
        wins -> Int4,
        losses -> Int4,
        streak -> Int4,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Int8,
        user_id -> Int8,
        code_hash -> Bytea,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    refresh_tokens (jti) {
        jti -> Uuid,
        session_id -> Uuid,
        issued_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    tournament_matches (tournament_id, round, slot) {
        tournament_id -> Int8,
        round -> Int4,
        slot -> Int4,
        player_a -> Nullable<Int8>,
        player_b -> Nullable<Int8>,
        status -> Text,
        match_id -> Nullable<Int8>,
        deadline -> Nullable<Timestamptz>,
        winner_id -> Nullable<Int8>,
        result -> Nullable<Text>,
    }
}

diesel::table! {
    tournament_players (tournament_id, user_id) {
        tournament_id -> Int8,
        user_id -> Int8,
        alias -> Text,
        seed -> Nullable<Int4>,
        joined_at -> Timestamptz,
    }
}

diesel::table! {
    tournaments (id) {
        id -> Int8,
        name -> Text,
        owner_id -> Int8,
        max_players -> Int4,
        points_to_win -> Int4,
        starts_when_full -> Bool,
        status -> Text,
        champion_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        username -> Text,
        email -> Text,
        password_hash -> Nullable<Text>,
        totp_secret -> Nullable<Text>,
        totp_pending_secret -> Nullable<Text>,
        totp_enabled -> Bool,
        totp_last_step -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        display_name -> Nullable<Text>,
        bio -> Text,
        language -> Text,
        avatar -> Nullable<Text>,
        last_seen_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    ws_tickets (ticket_hash) {
        ticket_hash -> Bytea,
        user_id -> Int8,
        session_id -> Uuid,
        expires_at -> Timestamptz,
    }
}

diesel::joinable!(auth_sessions -> users (user_id));
diesel::joinable!(chat_members -> chats (chat_id));
diesel::joinable!(chat_messages -> chats (chat_id));
diesel::joinable!(login_challenges -> users (user_id));
diesel::joinable!(matches -> tournaments (tournament_id));
diesel::joinable!(oauth_accounts -> users (user_id));
diesel::joinable!(oauth_states -> auth_sessions (link_session_id));
diesel::joinable!(oauth_states -> users (link_user_id));
diesel::joinable!(player_stats -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(refresh_tokens -> auth_sessions (session_id));
diesel::joinable!(tournament_matches -> matches (match_id));
diesel::joinable!(tournament_matches -> tournaments (tournament_id));
diesel::joinable!(tournament_players -> tournaments (tournament_id));
diesel::joinable!(tournament_players -> users (user_id));
diesel::joinable!(ws_tickets -> auth_sessions (session_id));
diesel::joinable!(ws_tickets -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    auth_sessions,
    auth_throttles,
    blocks,
    chat_members,
    chat_messages,
    chats,
    friend_requests,
    friendships,
    login_challenges,
    matches,
    notifications,
    oauth_accounts,
    oauth_states,
    player_stats,
    recovery_codes,
    refresh_tokens,
    tournament_matches,
    tournament_players,
    tournaments,
    users,
    ws_tickets,
);
