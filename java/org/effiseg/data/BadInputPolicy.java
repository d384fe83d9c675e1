// What validation does with bad files: stop (the default), or quarantine them and go on.
package org.effiseg.data;

/** {@link #FAIL} stops before training on any bad file; {@link #SKIP_BAD} leaves bad pairs out. */
public enum BadInputPolicy {
  FAIL,
  SKIP_BAD
}
