//! The homeserver's media repository: files streamed both ways, never held whole.
//!
//! Downloads go through authenticated media (`/_matrix/client/v1/media/download`),
//! which Synapse requires since 1.120 for new files; uploads through
//! `/_matrix/media/v3/upload` as the sender's puppet, so the file is theirs. ruma's
//! request types carry a file as one `Vec<u8>`, so these calls are built by hand.

use reqwest::{Body, Response, header};
use ruma::{MxcUri, OwnedMxcUri, UserId};
use serde::Deserialize;

use super::{Homeserver, HomeserverError, refusal};
use crate::media::ByteStream;

/// What the homeserver says of its media repository.
#[derive(Deserialize)]
struct MediaConfig {
    #[serde(rename = "m.upload.size")]
    upload_size: Option<u64>,
}

#[derive(Deserialize)]
struct Uploaded {
    content_uri: OwnedMxcUri,
}

impl Homeserver {
    /// The largest upload the homeserver takes, if it says; asked once.
    pub async fn upload_limit(&self) -> Result<Option<u64>, HomeserverError> {
        self.upload_limit
            .get_or_try_init(|| async {
                let url = self.url("/_matrix/client/v1/media/config")?;
                let response = self.authorized(self.http.get(url)).await?;
                let config: MediaConfig = json(response).await?;
                Ok(config.upload_size)
            })
            .await
            .copied()
    }

    /// The file `mxc` names, as the bridge's bot; its body is read as it streams.
    pub async fn download(&self, mxc: &MxcUri) -> Result<Response, HomeserverError> {
        let (server, id) = mxc
            .parts()
            .map_err(|e| HomeserverError::Protocol(format!("a bad content URI {mxc}: {e}")))?;
        let mut url = self.url("/_matrix/client/v1/media/download/")?;
        url.path_segments_mut()
            .map_err(|()| HomeserverError::Protocol("the homeserver URL is no base".into()))?
            .pop_if_empty()
            .push(server.as_str())
            .push(id);
        url.query_pairs_mut().append_pair("allow_redirect", "false");
        self.authorized(self.http.get(url)).await
    }

    /// Uploads `size` bytes of `body` as `as_user`'s file; its content URI.
    pub async fn upload(
        &self,
        as_user: &UserId,
        filename: &str,
        content_type: &str,
        size: u64,
        body: ByteStream,
    ) -> Result<OwnedMxcUri, HomeserverError> {
        let mut url = self.url("/_matrix/media/v3/upload")?;
        url.query_pairs_mut()
            .append_pair("filename", filename)
            .append_pair("user_id", as_user.as_str());
        let request = self
            .http
            .post(url)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CONTENT_LENGTH, size)
            .body(Body::wrap_stream(body));
        let uploaded: Uploaded = json(self.authorized(request).await?).await?;
        Ok(uploaded.content_uri)
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, HomeserverError> {
        self.base
            .join(path)
            .map_err(|e| HomeserverError::Protocol(format!("cannot build the URL: {e}")))
    }

    /// Sends `request` with the `as_token`; a refusal is the homeserver's error.
    async fn authorized(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Response, HomeserverError> {
        let response = request
            .bearer_auth(&self.as_token)
            .send()
            .await
            .map_err(|source| HomeserverError::Unreachable {
                url: self.base.clone(),
                source,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(refusal(status, &body))
    }
}

async fn json<T: serde::de::DeserializeOwned>(response: Response) -> Result<T, HomeserverError> {
    response
        .json()
        .await
        .map_err(|e| HomeserverError::Protocol(format!("an answer that does not parse: {e}")))
}
