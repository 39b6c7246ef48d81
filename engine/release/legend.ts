/** The legends of the SDMX status codes published beside every table (CONF_STATUS and OBS_STATUS). */
import type { ConfStatus, ObsStatus } from '../types.ts';

/** SDMX CONF_STATUS codes used by statguard, with the legend published alongside every table. */
export const CONF_STATUS_LEGEND: Readonly<Record<ConfStatus, string>> = Object.freeze({
  F: 'Free: published',
  A: 'Primary suppression: too few contributing units (minimum frequency rule)',
  O: 'Primary suppression: dominated by one unit',
  T: 'Primary suppression: dominated by two units',
  C: 'Confidential: suppressed by a protection rule',
  D: 'Secondary suppression: suppressed to protect another cell',
});

/** SDMX OBS_STATUS codes used by statguard. */
export const OBS_STATUS_LEGEND: Readonly<Record<ObsStatus, string>> = Object.freeze({
  A: 'Normal value',
  E: 'Estimated value: perturbed by the release method (differentially private noise or cell key perturbation; see its accuracy)',
});
