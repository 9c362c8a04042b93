//! Avatar uploads and their attack cases: bombs, lies about the type, SVG,
//! polyglots, oversized and truncated bodies.

use std::io::Cursor;

use image::{ImageFormat, Rgba, RgbaImage};
use reqwest::multipart::{Form, Part};

use crate::support::{Reply, TestApp, spawn_app};

fn encode(format: ImageFormat, w: u32, h: u32) -> Vec<u8> {
    let img =
        image::DynamicImage::ImageRgba8(RgbaImage::from_pixel(w, h, Rgba([200, 30, 30, 255])));
    let img = if format == ImageFormat::Jpeg {
        image::DynamicImage::ImageRgb8(img.to_rgb8())
    } else {
        img
    };
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A PNG header that declares `w`×`h` pixels, with a valid CRC and a tiny
/// body: decoding it for real would need gigabytes.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(b"IHDR");
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let crc = crc32(&ihdr);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc.to_be_bytes());
    png.extend_from_slice(&[0, 0, 0, 0]);
    png.extend_from_slice(b"IEND");
    png.extend_from_slice(&crc32(b"IEND").to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

async fn put_raw(app: &TestApp, token: &str, content_type: &str, body: Vec<u8>) -> Reply {
    let reply = app
        .client
        .put(app.url("/api/users/me/avatar"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    Reply::from(reply).await
}

async fn fetch(app: &TestApp, url: &str) -> reqwest::Response {
    app.client.get(app.url(url)).send().await.unwrap()
}

#[actix_web::test]
async fn every_accepted_format_becomes_a_256_png() {
    let app = spawn_app().await;
    let (_, token, _) = app.user_with_tokens("alice").await;
    for format in [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::WebP,
        ImageFormat::Gif,
    ] {
        let reply = put_raw(
            &app,
            &token,
            "application/octet-stream",
            encode(format, 320, 200),
        )
        .await;
        let url = reply.expect(200)["avatar_url"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            url.starts_with("/media/avatars/") && url.ends_with(".png"),
            "{url}"
        );
        let served = fetch(&app, &url).await;
        assert_eq!(served.status(), 200);
        assert_eq!(served.headers()["content-type"], "image/png");
        assert_eq!(served.headers()["x-content-type-options"], "nosniff");
        assert!(
            served.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age=31536000")
        );
        let img = image::load_from_memory(&served.bytes().await.unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), (256, 256), "{format:?}");
    }
    let me = app.get("/api/users/me", Some(&token)).await;
    assert!(
        me.body["avatar_url"]
            .as_str()
            .unwrap()
            .starts_with("/media/avatars/")
    );
}

#[actix_web::test]
async fn multipart_uploads_work_and_content_names_are_stable() {
    let app = spawn_app().await;
    let (_, a, _) = app.user_with_tokens("alice").await;
    let (_, b, _) = app.user_with_tokens("bob").await;
    let png = encode(ImageFormat::Png, 64, 64);
    let form = Form::new().text("note", "hello").part(
        "avatar",
        Part::bytes(png.clone())
            .file_name("me.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let reply = app
        .client
        .put(app.url("/api/users/me/avatar"))
        .bearer_auth(&a)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let first = Reply::from(reply).await;
    let url = first.expect(200)["avatar_url"]
        .as_str()
        .unwrap()
        .to_string();
    // The same image from someone else lands under the same name.
    let second = put_raw(&app, &b, "image/png", png).await;
    assert_eq!(second.expect(200)["avatar_url"], url.as_str());

    let form = Form::new().text("note", "no file here");
    let reply = app
        .client
        .put(app.url("/api/users/me/avatar"))
        .bearer_auth(&a)
        .multipart(form)
        .send()
        .await
        .unwrap();
    Reply::from(reply)
        .await
        .expect_error(400, "invalid_request");
}

#[actix_web::test]
async fn attacks_are_refused_with_clear_codes() {
    let app = spawn_app().await;
    let (_, token, _) = app.user_with_tokens("alice").await;

    // A decompression bomb: refused before decoding.
    put_raw(&app, &token, "image/png", png_bomb(100_000, 100_000))
        .await
        .expect_error(422, "image_too_large");
    put_raw(&app, &token, "image/png", png_bomb(4097, 16))
        .await
        .expect_error(422, "image_too_large");
    // SVG, HTML and text labelled as PNG: the bytes decide.
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#.to_vec();
    put_raw(&app, &token, "image/svg+xml", svg.clone())
        .await
        .expect_error(415, "unsupported_media_type");
    put_raw(&app, &token, "image/png", svg)
        .await
        .expect_error(415, "unsupported_media_type");
    put_raw(
        &app,
        &token,
        "image/png",
        b"<html><script>x</script></html>".to_vec(),
    )
    .await
    .expect_error(415, "unsupported_media_type");
    // A JPEG declared as PNG is still a JPEG: accepted as what it is.
    put_raw(&app, &token, "image/png", encode(ImageFormat::Jpeg, 32, 32))
        .await
        .expect(200);
    // Truncated.
    let mut truncated = encode(ImageFormat::Png, 128, 128);
    truncated.truncate(truncated.len() / 2);
    put_raw(&app, &token, "image/png", truncated)
        .await
        .expect_error(422, "invalid_image");
    // Oversized body.
    let mut huge = encode(ImageFormat::Png, 8, 8);
    huge.resize(3 * 1024 * 1024, 0);
    put_raw(&app, &token, "image/png", huge)
        .await
        .expect_error(413, "payload_too_large");
    // Empty.
    put_raw(&app, &token, "image/png", Vec::new())
        .await
        .expect_error(415, "unsupported_media_type");
}

#[actix_web::test]
async fn a_polyglot_comes_out_clean() {
    let app = spawn_app().await;
    let (_, token, _) = app.user_with_tokens("alice").await;
    let mut polyglot = encode(ImageFormat::Png, 40, 40);
    polyglot.extend_from_slice(b"<script>alert(document.cookie)</script>");
    let reply = put_raw(&app, &token, "image/png", polyglot).await;
    let url = reply.expect(200)["avatar_url"]
        .as_str()
        .unwrap()
        .to_string();
    let served = fetch(&app, &url).await.bytes().await.unwrap();
    assert!(!served.windows(7).any(|w| w == b"<script"));
}

#[actix_web::test]
async fn reset_restores_the_generated_default() {
    let app = spawn_app().await;
    let (alice, token, _) = app.user_with_tokens("alice").await;
    put_raw(&app, &token, "image/png", encode(ImageFormat::Png, 16, 16))
        .await
        .expect(200);
    let reply = app
        .send(
            reqwest::Method::DELETE,
            "/api/users/me/avatar",
            None,
            Some(&token),
        )
        .await;
    let url = reply.expect(200)["avatar_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(url, format!("/media/avatars/default/{}.png", alice.id));
    let served = fetch(&app, &url).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    let img = image::load_from_memory(&served.bytes().await.unwrap()).unwrap();
    assert_eq!(img.width(), 256);

    for bad in [
        "/media/avatars/../../etc/passwd",
        "/media/avatars/nothing.png",
        &format!("/media/avatars/{}.png", "0".repeat(64)),
    ] {
        let reply = fetch(&app, bad).await;
        assert_eq!(reply.status(), 404, "{bad}");
    }
    put_raw(
        &app,
        "not-a-token",
        "image/png",
        encode(ImageFormat::Png, 8, 8),
    )
    .await
    .expect_error(401, "invalid_token");
}
