//! The 42 Intranet as an OAuth2 provider: authorization-code flow with PKCE,
//! then the profile from `/v2/me`.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::config::OAuth42Settings;

/// The provider name stored with linked accounts.
pub const PROVIDER: &str = "42";

type ConfiguredClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub struct OAuth42 {
    client: ConfiguredClient,
    /// No redirects: a provider answering a token request with a redirect
    /// could otherwise bounce the code to another host (SSRF).
    http: reqwest::Client,
    me_url: url::Url,
}

/// A started authorization: send the browser to `url`, keep `state` in a
/// cookie and `pkce_verifier` on the server.
pub struct Authorization {
    pub url: url::Url,
    pub state: String,
    pub pkce_verifier: String,
}

/// The fields of the 42 profile we use.
#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    pub id: i64,
    pub login: String,
    pub email: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The provider refused the code (unknown, replayed, expired, bad PKCE).
    #[error("the provider refused the authorization code: {0}")]
    CodeRefused(String),
    /// The provider could not be reached or answered nonsense.
    #[error("the provider failed: {0}")]
    Provider(String),
}

impl OAuth42 {
    pub fn new(settings: &OAuth42Settings) -> anyhow::Result<Self> {
        let client = BasicClient::new(ClientId::new(settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                settings.client_secret.expose_secret().to_string(),
            ))
            .set_auth_uri(AuthUrl::from_url(settings.authorize_url.clone()))
            .set_token_uri(TokenUrl::from_url(settings.token_url.clone()))
            .set_redirect_uri(RedirectUrl::from_url(settings.redirect_uri.clone()))
            // The Intranet documents credentials in the request body.
            .set_auth_type(AuthType::RequestBody);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        let me_url = settings.api_url.join("v2/me")?;
        Ok(OAuth42 {
            client,
            http,
            me_url,
        })
    }

    pub fn authorize(&self) -> Authorization {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("public".into()))
            .set_pkce_challenge(challenge)
            .url();
        Authorization {
            url,
            state: state.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        }
    }

    /// Exchanges the code, then reads the profile with the access token.
    pub async fn profile(
        &self,
        code: String,
        pkce_verifier: String,
    ) -> Result<Profile, OAuthError> {
        let token = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(response) => {
                    OAuthError::CodeRefused(response.error().to_string())
                }
                other => OAuthError::Provider(other.to_string()),
            })?;
        let response = self
            .http
            .get(self.me_url.clone())
            .bearer_auth(token.access_token().secret())
            .send()
            .await
            .map_err(|e| OAuthError::Provider(e.to_string()))?;
        if !response.status().is_success() {
            return Err(OAuthError::Provider(format!(
                "profile request answered {}",
                response.status()
            )));
        }
        response
            .json::<Profile>()
            .await
            .map_err(|e| OAuthError::Provider(format!("profile: {e}")))
    }
}
