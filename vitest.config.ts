import { defineConfig } from 'vitest/config'

// HTTP suites run once per database; unit suites once.
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'sqlite',
          include: ['test/http/**/*.test.ts'],
          env: { RAMPART_TEST_DB: 'sqlite' },
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ['test/http/**/*.test.ts'],
          env: { RAMPART_TEST_DB: 'postgres' },
        },
      },
    ],
  },
})
