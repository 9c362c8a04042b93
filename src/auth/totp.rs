//! RFC 6238 TOTP: 6 digits, 30 s steps, one step of drift either way. The
//! caller stores the matched step so that a code is accepted once.

use base64::Engine;
use totp_rs::{Builder, Secret, Totp};

pub struct TotpSetup {
    /// Base32, for manual entry.
    pub secret: String,
    pub otpauth_uri: String,
    /// `data:image/png;base64,…`
    pub qr_png_data_url: String,
    pub qr_svg: String,
}

pub fn generate_secret() -> String {
    Secret::generate().to_base32()
}

fn totp(secret_b32: &str, issuer: &str, account: &str) -> anyhow::Result<Totp> {
    let secret = Secret::try_from_base32(secret_b32)
        .map_err(|e| anyhow::anyhow!("stored TOTP secret is not base32: {e:?}"))?;
    Builder::new()
        .with_secret(secret)
        .with_skew(1)
        .with_step_duration(30)
        .with_digits(6)
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .map_err(|e| anyhow::anyhow!("building TOTP: {e:?}"))
}

/// The step a valid `code` matched at `unix_time`, if any.
pub fn check(secret_b32: &str, code: &str, unix_time: u64) -> anyhow::Result<Option<i64>> {
    let totp = totp(secret_b32, "check", "check")?;
    Ok(totp
        .check(code.trim(), unix_time)
        .and_then(|step| i64::try_from(step).ok()))
}

/// The code for `unix_time`; used by tests and the dev tooling.
pub fn code_at(secret_b32: &str, unix_time: u64) -> anyhow::Result<String> {
    Ok(totp(secret_b32, "code", "code")?
        .generate(unix_time)
        .to_string())
}

/// What a user needs to add the secret to an authenticator app.
pub fn setup(secret_b32: &str, issuer: &str, account: &str) -> anyhow::Result<TotpSetup> {
    let uri = totp(secret_b32, issuer, account)?
        .to_url()
        .map_err(|e| anyhow::anyhow!("otpauth URI: {e:?}"))?;
    let qr = qrcode::QrCode::new(uri.as_bytes())?;
    let png = {
        let image = qr.render::<image::Luma<u8>>().quiet_zone(true).build();
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, image::ImageFormat::Png)?;
        bytes.into_inner()
    };
    let svg = qr
        .render::<qrcode::render::svg::Color>()
        .quiet_zone(true)
        .min_dimensions(200, 200)
        .build();
    Ok(TotpSetup {
        secret: secret_b32.to_string(),
        otpauth_uri: uri,
        qr_png_data_url: format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(png)
        ),
        qr_svg: svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_step_of_drift_only() {
        let secret = generate_secret();
        let now = 1_700_000_015; // mid-step
        let current = code_at(&secret, now).unwrap();
        let step = i64::try_from(now / 30).unwrap();
        assert_eq!(check(&secret, &current, now).unwrap(), Some(step));
        let previous = code_at(&secret, now - 30).unwrap();
        assert_eq!(check(&secret, &previous, now).unwrap(), Some(step - 1));
        let next = code_at(&secret, now + 30).unwrap();
        assert_eq!(check(&secret, &next, now).unwrap(), Some(step + 1));
        let too_old = code_at(&secret, now - 60).unwrap();
        if too_old != current && too_old != previous && too_old != next {
            assert_eq!(check(&secret, &too_old, now).unwrap(), None);
        }
        assert_eq!(check(&secret, "abcdef", now).unwrap(), None);
    }

    #[test]
    fn setup_names_issuer_and_account() {
        let secret = generate_secret();
        let setup = setup(&secret, "transcendence", "alice").unwrap();
        assert!(
            setup
                .otpauth_uri
                .starts_with("otpauth://totp/transcendence:alice?")
        );
        assert!(setup.otpauth_uri.contains(&format!("secret={secret}")));
        assert!(setup.qr_png_data_url.starts_with("data:image/png;base64,"));
        assert!(setup.qr_svg.contains("<svg"));
    }
}
