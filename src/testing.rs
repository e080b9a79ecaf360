//! Test fixtures shared by the unit tests: a StatefulSet's desired objects straight from the
//! StatefulSet (its intent worked out and kept for the test's lifetime).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;

use crate::controller::desired::{self, Desired};
use crate::mutate::NoAddresses;
use crate::spec::class::ClassSource;
use crate::spec::settings::Defaults;
use crate::spec::{self, Intent, IntentError};

/// The intent of an opted-in StatefulSet under `view`'s classes, kept for the rest of the test.
pub fn intent_in(
    sts: &StatefulSet,
    defaults: &Defaults,
    view: &dyn ClassSource,
) -> Result<&'static Intent, IntentError> {
    let intent = spec::intent(&Arc::new(sts.clone()), defaults, view)?.expect("the fixture is opted in");
    Ok(Box::leak(Box::new(intent)))
}

/// The Services of an opted-in StatefulSet with no access class.
pub fn desired(sts: &StatefulSet, defaults: &Defaults) -> Result<Desired<'static>, IntentError> {
    desired_in(sts, defaults, &NoAddresses)
}

/// The Services of an opted-in StatefulSet under `view`'s classes.
pub fn desired_in(
    sts: &StatefulSet,
    defaults: &Defaults,
    view: &dyn ClassSource,
) -> Result<Desired<'static>, IntentError> {
    Ok(desired::desired(intent_in(sts, defaults, view)?)?)
}
