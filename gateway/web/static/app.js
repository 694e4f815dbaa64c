// Progressive enhancement only: every page works without JavaScript.
import { initAll } from './govuk-frontend/govuk-frontend.min.js'
initAll()
