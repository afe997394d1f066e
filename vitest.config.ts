import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/slow holds runs over many GiB: `npm run test:slow`.
    exclude: [...configDefaults.exclude, 'test/slow/**'],
    // End-to-end tests run the real CLI with a memory-hard KDF; allow for a busy 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
