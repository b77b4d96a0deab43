import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * A sequencer that orders the files as Vitest does (group by group, longest first once its cache of
 * earlier results knows their durations), except that in a run with no such cache, as in CI's clean
 * clone, the files in `longRunning` start first in their group, in that order. Vitest would
 * otherwise start the largest files first, and some of the longest are short files that start
 * platforms or the CDK CLI: started last, one of them alone keeps its group running for a minute.
 */
export function longestFirst(longRunning: readonly string[]) {
  return class LongestFirstSequencer extends BaseSequencer {
    override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
      const sorted = await super.sort(files);
      const relative = (file: TestSpecification) => file.moduleId.slice(this.ctx.config.root.length + 1);
      const known = (file: TestSpecification) =>
        this.ctx.cache.getFileTestResults(`${file.project.name}:${relative(file)}`) !== undefined;
      if (sorted.some(known)) return sorted;
      const rank = (file: TestSpecification) => {
        const index = longRunning.indexOf(relative(file));
        return index === -1 ? longRunning.length : index;
      };
      // Array.prototype.sort is stable: the other files keep Vitest's order.
      return sorted.sort(
        (a, b) =>
          a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder || rank(a) - rank(b),
      );
    }
  };
}
