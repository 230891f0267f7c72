import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// Relative asset URLs: the built app works from any folder a static server puts it in.
export default defineConfig({ base: './', plugins: [react()] })
