// Types for every operation the console sends, from the API's schema
// (the root schema.graphql, which `make generate` writes) and the client
// documents in client/operations/ (checked against the live schema by
// client/operations_test.go): one generated module, src/gql/graphql.ts.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../schema.graphql',
  documents: ['../client/operations/*.graphql'],
  generates: {
    'src/gql/graphql.ts': {
      plugins: ['typescript-operations', 'typed-document-node'],
      config: {
        scalars: { ID: 'string', Cursor: 'string', Decimal: 'string', Time: 'string', Upload: 'File' },
        enumsAsTypes: true,
        avoidOptionals: { field: true, inputValue: false, object: true },
        useTypeImports: true,
      },
    },
  },
};

export default config;
