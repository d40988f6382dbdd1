import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

/** The repository the package's metadata and README link to. */
export const REPOSITORY_URL =
  'https://github.com/nest-oidc-client-credentials/nest-oidc-client-credentials';

/** Fenced code blocks and code spans: what they hold is code, not links or headings. */
function withoutCode(markdown: string): string {
  return markdown
    .replace(/^ {0,3}(`{3,}|~{3,})[^\n]*\n[\s\S]*?^ {0,3}\1[^\n]*$/gm, '')
    .replace(/(`+)[^`]*?\1/g, '');
}

/** GitHub's anchor for each heading of a Markdown text (a repeated heading gets `-1`, `-2`, …). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const prose = markdown.replace(/^ {0,3}(`{3,}|~{3,})[^\n]*\n[\s\S]*?^ {0,3}\1[^\n]*$/gm, '');
  for (const [, text] of prose.matchAll(/^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$/gm)) {
    const slug = text
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Link targets written as Markdown links, images, reference definitions or HTML attributes. */
function linkTargets(prose: string): string[] {
  const patterns = [
    /\]\(\s*<?([^)\s>]*)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g,
    /^ {0,3}\[[^\]]+\]:[ \t]*<?([^\s>]+)>?/gm,
    /\b(?:href|src)\s*=\s*["']([^"']*)["']/gi,
  ];
  return patterns.flatMap((pattern) => [...prose.matchAll(pattern)].map((match) => match[1]));
}

/**
 * What is wrong with the links of a README that npm shows on its own: relative links (the package
 * holds neither docs/ nor apps/, and npm resolves them nowhere useful), anchors no heading has, and
 * links into the repository at a path that is not in `root` (the working tree), or at a section that
 * file does not have. Nothing is fetched: a link into the repository is checked against the files
 * here, so only `blob/main/…` and `tree/main/…` paths, the issues and the README's anchor are
 * accepted there.
 */
export function readmeLinkProblems(
  markdown: string,
  { root, repository = REPOSITORY_URL }: { root: string; repository?: string },
): string[] {
  const prose = withoutCode(markdown);
  const anchors = headingAnchors(markdown);
  const problems: string[] = [];
  for (const target of linkTargets(prose)) {
    if (target.startsWith('#')) {
      if (!anchors.has(decodeURIComponent(target.slice(1)))) {
        problems.push(`${target}: no heading has this anchor`);
      }
    } else if (!/^[a-z][a-z\d+.-]*:/i.test(target)) {
      problems.push(`${target || '(empty)'}: relative link`);
    }
  }
  for (const [url] of prose.matchAll(/https?:\/\/[^\s<>"'`)\]]+/g)) {
    const problem = repositoryLinkProblem(url.replace(/[.,;:]+$/, ''), root, repository);
    if (problem) problems.push(`${url}: ${problem}`);
  }
  return problems;
}

function repositoryLinkProblem(url: string, root: string, repository: string): string | undefined {
  if (!url.startsWith(repository) || !/^([/#]|$)/.test(url.slice(repository.length))) {
    return undefined;
  }
  const [rest, fragment] = url.slice(repository.length).split('#', 2) as [string, string?];
  if (rest === '' || rest === '/') {
    return fragment === undefined || fragment === 'readme' ? undefined : 'unknown anchor';
  }
  if (/^\/issues(\/new)?\/?$/.test(rest)) return undefined;
  const inTree = /^\/(?:blob|tree)\/main\/([^?]+)$/.exec(rest);
  if (!inTree) return 'points into the repository, but not at blob/main/ or tree/main/';
  const file = join(root, decodeURIComponent(inTree[1]));
  if (!existsSync(file)) return `${inTree[1]} does not exist in this repository`;
  if (fragment !== undefined && file.endsWith('.md')) {
    if (!headingAnchors(readFileSync(file, 'utf8')).has(decodeURIComponent(fragment))) {
      return `${inTree[1]} has no heading #${fragment}`;
    }
  }
  return undefined;
}

/**
 * Statements of a compiled module that do something when it is imported, beyond defining its own
 * values: bare imports, calls and assignments at the top level, static blocks. TypeScript's decorator
 * calls on a class of the same module are accepted (decorators write metadata to that class only).
 * A bundler may drop a module of a package marked `sideEffects: false` whose exports are unused,
 * so such a package must have none of these.
 */
export function importTimeEffects(source: string, fileName = 'module.js'): string[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const local = new Set<string>();
  for (const statement of file.statements) {
    if (ts.isClassDeclaration(statement) && statement.name) local.add(statement.name.text);
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        if (ts.isIdentifier(declaration.name)) local.add(declaration.name.text);
      }
    }
  }
  const effects: string[] = [];
  const report = (node: ts.Node, what: string) =>
    effects.push(`${what}: ${node.getText(file).replace(/\s+/g, ' ').slice(0, 120)}`);
  for (const statement of file.statements) {
    if (ts.isImportDeclaration(statement)) {
      if (!statement.importClause) report(statement, 'bare import');
    } else if (ts.isClassDeclaration(statement) || ts.isVariableStatement(statement)) {
      for (const block of staticBlocks(statement)) report(block, 'static block');
    } else if (ts.isExpressionStatement(statement)) {
      const { expression } = statement;
      if (ts.isStringLiteral(expression)) continue; // a directive such as 'use strict'
      if (!decoratesLocalClass(expression, local)) report(statement, 'top-level statement');
    } else if (
      !ts.isExportDeclaration(statement) &&
      !ts.isExportAssignment(statement) &&
      !ts.isFunctionDeclaration(statement) &&
      !ts.isEmptyStatement(statement)
    ) {
      report(statement, 'top-level statement');
    }
  }
  return effects;
}

function staticBlocks(node: ts.Node): ts.ClassStaticBlockDeclaration[] {
  const blocks: ts.ClassStaticBlockDeclaration[] = [];
  const visit = (child: ts.Node): void => {
    if (ts.isClassStaticBlockDeclaration(child)) blocks.push(child);
    else if (!ts.isFunctionLike(child) || ts.isClassLike(child)) ts.forEachChild(child, visit);
  };
  visit(node);
  return blocks;
}

/** `X = X_1 = __decorate([...], X)` or `__decorate([...], X.prototype, 'member', …)` for a local X. */
function decoratesLocalClass(expression: ts.Expression, local: Set<string>): boolean {
  while (
    ts.isBinaryExpression(expression) &&
    expression.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
    ts.isIdentifier(expression.left) &&
    local.has(expression.left.text)
  ) {
    expression = expression.right;
  }
  if (!ts.isCallExpression(expression) || !ts.isIdentifier(expression.expression)) return false;
  if (expression.expression.text !== '__decorate') return false;
  let target: ts.Expression | undefined = expression.arguments[1];
  while (target && ts.isPropertyAccessExpression(target)) target = target.expression;
  return target !== undefined && ts.isIdentifier(target) && local.has(target.text);
}
