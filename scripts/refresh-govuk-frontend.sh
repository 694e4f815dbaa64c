#!/usr/bin/env bash
# Re-fetch the compiled govuk-frontend (CSS and JS) from the npm registry into
# gateway/web/static/govuk-frontend/, pinned to the version govuk-frontend-jinja renders
# (pyproject.toml). Run it by hand when bumping both; the gateway never needs npm or the
# network at install or run time.
#
# What is vendored: govuk-frontend.min.css and govuk-frontend.min.js only. Not the GDS
# Transport fonts, not the crown, crest or GOV.UK icons: an LA's service is not on GOV.UK and
# must not use its brand (gateway/web/static/app.css sets Arial instead).
# The npm package carries no licence file; LICENSE beside the files is govuk-frontend's MIT
# licence (alphagov/govuk-frontend LICENSE.txt), and this script checks the package still
# declares MIT.
set -euo pipefail
VERSION="${1:-6.3.0}"
cd "$(dirname "$0")/.."
dest=gateway/web/static/govuk-frontend
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "govuk-frontend@${VERSION}" >/dev/null)
tar -xzf "$work/govuk-frontend-${VERSION}.tgz" -C "$work"
license=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["license"])' \
  "$work/package/package.json")
if [ "$license" != "MIT" ]; then
  echo "govuk-frontend ${VERSION} is licensed ${license}, not MIT: update LICENSE by hand" >&2
  exit 1
fi
mkdir -p "$dest"
cp "$work/package/dist/govuk/govuk-frontend.min.css" "$work/package/dist/govuk/govuk-frontend.min.js" "$dest/"
# The source-map comments name files that are not vendored.
sed -i -E "s@/[*/][#@] sourceMappingURL=[^ *]*( \*/)?@@" "$dest/govuk-frontend.min.css" "$dest/govuk-frontend.min.js"
echo "$VERSION" > "$dest/VERSION"
echo "govuk-frontend ${VERSION} vendored into ${dest}"
