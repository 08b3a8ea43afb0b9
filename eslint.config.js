import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'off',
      'no-console': 'error',
    },
  },
  {
    files: ['public/js/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { window: 'readonly', document: 'readonly', navigator: 'readonly', URL: 'readonly', FormData: 'readonly', XMLHttpRequest: 'readonly', setTimeout: 'readonly' },
    },
  },
  {
    files: ['server/test/**/*.ts', 'server/bench/**/*.ts'],
    // Tests read JSON bodies of every shape; typing each response would add noise, not safety.
    rules: { '@typescript-eslint/no-unused-expressions': 'off', 'no-console': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
);
