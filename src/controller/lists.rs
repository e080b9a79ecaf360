//! How every cache and view lists: small pages. A leaf module (imports no other controller module).

use kube::runtime::watcher;

/// Objects per LIST page. kube-runtime's default (500, client-go's) lets a tenant's 1 MB
/// StatefulSets or 250 KB Services make one page hundreds of MiB before anything is dropped; at 10
/// a page (its body and what it decodes into) stays within tens of MiB whatever tenants create.
pub const PAGE_SIZE: u32 = 10;

/// The watch configuration of every cache and view: small LIST pages (no streaming lists: their
/// support depends on the API server's version).
pub fn list_config() -> watcher::Config {
    watcher::Config::default().page_size(PAGE_SIZE)
}
