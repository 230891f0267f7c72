import { createClient } from '@flowcast/client'
import { FlowcastProvider } from '@flowcast/client/react'
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { App } from './App.tsx'
import { fetchToken, readConfig } from './config.ts'

const config = readConfig(location.search, location.origin)
const { tokens } = config

// One client for the whole app, made outside React so StrictMode's double render cannot make two.
// autoConnect: false opens the socket only when the first hook subscribes (in an effect).
const client = createClient({
  url: config.server,
  autoConnect: false,
  // Asked on every (re)connect and whenever the server reports the token expired or refused.
  ...(tokens
    ? {
        getToken: ({ executionId, reason }) =>
          fetchToken(tokens, executionId ?? config.execution, 'viewer', reason),
      }
    : {}),
  onError: (err) => console.warn('flowcast:', err.code, err.message),
})

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <FlowcastProvider client={client}>
      <App config={config} />
    </FlowcastProvider>
  </StrictMode>,
)
