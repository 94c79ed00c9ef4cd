//! Error collection: every mistake in one build.

use syn::Error;

/// Collects errors so one expansion reports every mistake, not only the first.
#[derive(Default)]
pub(crate) struct Errors {
    error: Option<Error>,
}

impl Errors {
    /// Records one more error.
    pub(crate) fn push(&mut self, error: Error) {
        match &mut self.error {
            Some(existing) => existing.combine(error),
            None => self.error = Some(error),
        }
    }

    /// Records `result`'s error, if any, and returns its value.
    pub(crate) fn record<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(error);
                None
            }
        }
    }

    /// `Ok` if nothing was recorded, otherwise all the errors combined.
    pub(crate) fn finish(self) -> syn::Result<()> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}
