//! The worker's answers to the cache manager's requests: list, delete, verify the stored model files, the storage
//! estimate, cancelling downloads.

use super::download::{cancel_all, delete_model};
use super::messages::{Request, Response};
use super::store::{estimate, Store};

pub async fn handle(request: Request) -> Result<Response, String> {
    if let Request::CancelDownloads = request {
        cancel_all();
        return Ok(Response::CacheDone);
    }
    if let Request::CacheEstimate = request {
        return estimate().await.map(Response::CacheEstimate);
    }
    if let Request::CacheDeleteModel { repo } = request {
        return delete_model(&repo).await.map(|()| Response::CacheDone);
    }
    let store = Store::shared().await.map_err(|e| e.to_string())?;
    let result = match request {
        Request::CacheList => store.list().await.map(Response::CacheFiles),
        Request::CacheDeleteAll => {
            cancel_all();
            store.delete_all().await.map(|()| Response::CacheDone)
        }
        Request::CacheVerify { file } => store.verify(&file).await.map(Response::CacheVerified),
        other => return Err(format!("not a cache request: {other:?}")),
    };
    result.map_err(|e| e.to_string())
}
