/**
 * The watch page's entry, bundled with the client SDK into /assets/page.js: the flow list at `/`,
 * the live view of one execution at `/?execution=<id>`.
 */
import { showFlowPicker } from './flow-picker.ts'
import { showWatch } from './watch-view.ts'

const params = new URLSearchParams(location.search)
const executionId = params.get('execution')
if (executionId) showWatch(executionId, params)
else showFlowPicker()
