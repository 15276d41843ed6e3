//! The state every handler reads: the use cases' context, behind actix's `Data`.

use std::ops::Deref;
use std::sync::Arc;

use crate::app::App;

/// Shared by all workers. It holds the app's context and derefs to it, so a handler passes
/// `&state` straight to a use case; anything only the web edge needs would live beside it.
pub struct AppState {
    app: Arc<App>,
}

impl AppState {
    pub fn new(app: App) -> Self {
        AppState { app: Arc::new(app) }
    }

    /// The app's context, for work that outlives a request (background upkeep).
    pub fn app(&self) -> Arc<App> {
        self.app.clone()
    }
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}
